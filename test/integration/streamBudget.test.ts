import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session, type Settings } from 'node:http2';
import { HealthCheckRequest } from '../../src/gen/grpc/health/v1/health.js';
import { callRaw } from '../helpers/rawBytes.js';
import { startTestService, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

/** A connection, with every SETTINGS_MAX_CONCURRENT_STREAMS the server has told it so far. */
interface Watched {
  readonly session: ClientHttp2Session;
  readonly told: number[];
}

async function open(address: string): Promise<Watched> {
  const session = connect(`http://${address}`);
  session.on('error', () => undefined);
  const told: number[] = [];
  session.on('remoteSettings', (settings: Settings) => {
    if (settings.maxConcurrentStreams !== undefined) told.push(settings.maxConcurrentStreams);
  });
  await waitFor('the server settings', () => told.length > 0);
  return { session, told };
}

describe('streams open at once, shared among connections', () => {
  let running: TestService;
  const sessions: Watched[] = [];

  before(async () => {
    running = await startTestService({ FRAUD_GRPC_MAX_CONCURRENT_STREAMS: '100', FRAUD_GRPC_MAX_CONCURRENT_STREAMS_TOTAL: '400' });
  });

  after(async () => {
    for (const { session } of sessions) session.destroy();
    await running.stop();
  });

  it('should tell each connection a smaller share of the total as connections come, and a larger one as they go', async () => {
    const check = HealthCheckRequest.encode({ service: '' }).finish();
    // A first call shows the service its HTTP/2 server.
    assert.equal((await callRaw(running.address, '/grpc.health.v1.Health/Check', check)).code, 0);
    for (let index = 0; index < 8; index++) sessions.push(await open(running.address));
    // 8 or 9 connections (the first call's may still be closing): 400 / 9 = 44, or 400 / 8 = 50: 32.
    const first = sessions[0] as Watched;
    await waitFor('the first connection told 32', () => first.told.at(-1) === 32);
    const late = await open(running.address);
    sessions.push(late);
    assert.equal(late.told[0], 32, 'a new connection starts with the smaller share');
    // Down to 5 connections: 400 / 5 = 80: 64.
    for (const { session } of sessions.splice(0, 4)) session.destroy();
    await waitFor('the late connection told 64', () => late.told.at(-1) === 64);
  });
});

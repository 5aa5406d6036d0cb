import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FraudCallError, FraudClient } from '../../client/fraudClient.js';
import { runMain, spawnService } from '../helpers/spawnService.js';
import { transaction } from '../helpers/testService.js';
import { sample, scrape } from '../helpers/scrape.js';
import { runTool } from '../helpers/tools.js';
import { waitFor } from '../helpers/waitFor.js';

/** Resolves once the service holds transactions of the calls just sent: they are in flight, not on their way. */
async function callsAdmitted(metricsPort: number): Promise<void> {
  await waitFor('calls in flight', async () => (sample(await scrape(metricsPort), 'fraud_rows_in_flight') ?? 0) > 0, 10_000, 5);
}

/** Admission limits high enough for the 40 × 10,000 transactions these tests keep in flight. */
const ADMIT_ALL = { FRAUD_MAX_ROWS_IN_FLIGHT: '400000', FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION: '400000' };

describe('the service process', () => {
  it('should exit 2 with one line naming the variable when the configuration is bad', async () => {
    const result = await runMain({ FRAUD_GRPC_PORT: 'fifty' });
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'configuration error: FRAUD_GRPC_PORT: must be an integer from 0 to 65535, got "fifty"\n');
    assert.equal(result.stdout, '');
  });

  it('should exit 1 naming the variables when the gRPC port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolveListen) => blocker.listen(0, '127.0.0.1', resolveListen));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const result = await runMain({ FRAUD_GRPC_HOST: '127.0.0.1', FRAUD_GRPC_PORT: String(port), FRAUD_METRICS_PORT: '0' });
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`^fatal: cannot listen for gRPC on 127\\.0\\.0\\.1:${port} \\(FRAUD_GRPC_HOST, FRAUD_GRPC_PORT\\): .*EADDRINUSE`));
    } finally {
      blocker.close();
    }
  });

  it('should reach SERVING on the bundled models and pass grpc-health-probe', async () => {
    const service = await spawnService();
    try {
      const serving = await service.waitForLog('serving');
      console.log(`      started: SERVING ${String(serving.uptimeMs)} ms after the process started`);
      const probe = await runTool('grpc-health-probe', [`-addr=${service.address}`]);
      assert.equal(probe.code, 0, probe.stderr);
      assert.match(probe.stdout + probe.stderr, /status: SERVING/);
    } finally {
      assert.equal(await service.kill(), 0);
    }
  });

  it('should make grpc-health-probe fail while the models are not loaded', async () => {
    // A scenario manifest that is refused (it is not a manifest): the service runs, and never serves it.
    const folder = await mkdtemp(join(tmpdir(), 'fraud-process-'));
    await writeFile(join(folder, 'fraud-scenario.json'), '{"not": "a manifest"}\n');
    const service = await spawnService({ FRAUD_SCENARIO_MODEL_URI: join(folder, 'fraud-scenario.json') });
    try {
      await service.waitForLog('listening');
      const probe = await runTool('grpc-health-probe', [`-addr=${service.address}`, '-service=fraud.v1.FraudService']);
      assert.notEqual(probe.code, 0);
      assert.match(probe.stdout + probe.stderr, /NOT_SERVING/);
    } finally {
      await service.kill();
      await rm(folder, { recursive: true, force: true });
    }
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`should finish the calls in flight on ${signal}, then exit 0`, async () => {
      // 40 calls of 10,000 transactions in flight at once: admission control must let them all in.
      const service = await spawnService({ FRAUD_SHUTDOWN_GRACE_SECONDS: '20', ...ADMIT_ALL });
      const client = new FraudClient({ address: service.address, retry: { attempts: 1 }, deadlineMs: 30_000 });
      try {
        await service.waitForLog('serving');
        const batch = Array.from({ length: 10_000 }, (_, index) => transaction({ transactionId: index, txAmount: index % 300 }));
        await client.predictBatch(batch.slice(0, 10));
        const calls = Array.from({ length: 40 }, () => client.predictBatch(batch).then(() => 'ok', (error: unknown) => error));
        await callsAdmitted(service.metricsPort);
        service.process.kill(signal);
        const outcomes = await Promise.all(calls);
        const completed = outcomes.filter((outcome) => outcome === 'ok').length;
        const refused = outcomes.filter((outcome) => outcome instanceof FraudCallError && outcome.code === status.UNAVAILABLE).length;
        console.log(`      ${completed} calls completed after ${signal}, ${refused} refused as UNAVAILABLE (not yet received)`);
        assert.equal(completed + refused, outcomes.length, `unexpected outcomes: ${outcomes.filter((outcome) => outcome !== 'ok').map(String).join('; ')}`);
        assert.ok(completed > 0);
        assert.equal(await service.exited, 0);
        assert.ok(service.logs.some((record) => record.msg === 'stopped'));
      } finally {
        client.close();
        await service.kill('SIGKILL');
      }
    });
  }

  it('should cut off the calls still running when the grace period ends, and still exit 0', async () => {
    const service = await spawnService({ FRAUD_SHUTDOWN_GRACE_SECONDS: '0', ...ADMIT_ALL });
    const client = new FraudClient({ address: service.address, retry: { attempts: 1 }, deadlineMs: 30_000 });
    try {
      await service.waitForLog('serving');
      const batch = Array.from({ length: 10_000 }, (_, index) => transaction({ transactionId: index }));
      const calls = Array.from({ length: 40 }, () => client.predictBatch(batch).then(() => 'ok', (error: unknown) => error));
      await callsAdmitted(service.metricsPort);
      service.process.kill('SIGTERM');
      const outcomes = await Promise.all(calls);
      assert.equal(await service.exited, 0);
      assert.ok(outcomes.some((outcome) => outcome !== 'ok'), 'some calls were cut off');
      assert.ok(service.logs.some((record) => record.msg === 'grace period over: cancelling the calls still running'));
    } finally {
      client.close();
      await service.kill('SIGKILL');
    }
  });
});

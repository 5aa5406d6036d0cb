import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { packageRoot } from '../../src/packageRoot.js';
import { DnsServer } from '../helpers/dnsServer.js';
import { sample, scrape } from '../helpers/scrape.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { waitFor } from '../helpers/waitFor.js';

const NAME = 'fraud-scoring.test';
const CALL_LOOP = join(packageRoot, 'dist', 'test', 'helpers', 'callLoop.js');

/** The typed client in its own process (grpc-js must be told at start-up to ask our DNS server). */
class ClientProcess {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly answers: AsyncIterator<string>;

  constructor(target: string) {
    this.child = spawn(process.execPath, [CALL_LOOP, target], {
      env: { PATH: process.env.PATH ?? '', GRPC_NODE_USE_ALTERNATIVE_RESOLVER: 'true' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.answers = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  /** Makes `count` Predict calls, one after the other; resolves with how many failed. */
  async call(count: number): Promise<number> {
    this.child.stdin.write(`${count}\n`);
    const line = await this.answers.next();
    if (line.done === true) throw new Error('the client process ended');
    return (JSON.parse(line.value) as { failed: number }).failed;
  }

  close(): void {
    this.child.stdin.end();
  }
}

async function predictions(service: SpawnedService): Promise<number> {
  return sample(await scrape(service.metricsPort), 'fraud_grpc_requests_total{method="fraud.v1.FraudService/Predict",code="OK"}') ?? 0;
}

/** Two replicas on the same port of two loopback addresses, as two pods behind one headless Service. */
async function replica(host: string, port: number, env: Record<string, string> = {}): Promise<SpawnedService> {
  const service = await spawnService({ FRAUD_GRPC_HOST: host, FRAUD_GRPC_PORT: String(port), FRAUD_LOG_LEVEL: 'info', ...env });
  await service.waitForLog('serving');
  return service;
}

describe('replicas behind one DNS name (a headless Service)', function () {
  this.timeout(120_000);
  let dns: DnsServer;

  before(async () => {
    dns = await DnsServer.start();
  });

  after(() => {
    dns.close();
  });

  it('should spread the calls of one typed client over every address of the name, within 40/60', async () => {
    // The first replica's port is picked by the system; the second shares it on another address.
    const first = await replica('127.0.0.1', 0);
    const port = first.grpcPort;
    const second = await replica('127.0.0.2', port);
    dns.set(NAME, ['127.0.0.1', '127.0.0.2']);
    const client = new ClientProcess(`dns://127.0.0.1:${dns.port}/${NAME}:${port}`);
    try {
      assert.equal(await client.call(400), 0);
      const [onFirst, onSecond] = [await predictions(first), await predictions(second)];
      console.log(`      400 calls: ${onFirst} on the first replica, ${onSecond} on the second`);
      assert.equal(onFirst + onSecond, 400);
      assert.ok(onFirst >= 160 && onFirst <= 240, `${onFirst} of 400 on the first replica`);
    } finally {
      client.close();
      await first.kill();
      await second.kill();
    }
  });

  it('should send calls to a replica that starts later, once the connections age out and the client resolves the name again', async () => {
    const age = { FRAUD_GRPC_MAX_CONNECTION_AGE_SECONDS: '1', FRAUD_GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS: '1' };
    const first = await replica('127.0.0.1', 0, age);
    const port = first.grpcPort;
    dns.set(NAME, ['127.0.0.1']);
    const client = new ClientProcess(`dns://127.0.0.1:${dns.port}/${NAME}:${port}`);
    let second: SpawnedService | undefined;
    try {
      assert.equal(await client.call(50), 0);
      assert.equal(await predictions(first), 50);
      // A new pod: the Service's name now resolves to both (the HPA scaled 1 → 2).
      const started = await replica('127.0.0.2', port, age);
      second = started;
      dns.set(NAME, ['127.0.0.1', '127.0.0.2']);
      let failed = 0;
      await waitFor(
        'calls on the new replica',
        async () => {
          failed += await client.call(20);
          return (await predictions(started)) > 0;
        },
        60_000,
      );
      assert.equal(failed, 0, 'no call failed while connections aged out');
      // From then on, both share the calls.
      const [firstBefore, secondBefore] = [await predictions(first), await predictions(started)];
      assert.equal(await client.call(200), 0);
      const onSecond = (await predictions(started)) - secondBefore;
      console.log(`      after the new replica joined: ${(await predictions(first)) - firstBefore} and ${onSecond} of the next 200 calls`);
      assert.ok(onSecond >= 80 && onSecond <= 120, `${onSecond} of 200 on the new replica`);
    } finally {
      client.close();
      await first.kill();
      await second?.kill();
    }
  });
});

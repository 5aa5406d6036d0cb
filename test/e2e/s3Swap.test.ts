import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FraudClient } from '../../client/fraudClient.js';
import { LoadLoop } from '../helpers/loadLoop.js';
import type { MinioServer } from '../helpers/minio.js';
import { BUCKET, publish, s3Env, startModelStore } from '../helpers/modelStore.js';
import { scrape, sample } from '../helpers/scrape.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { waitFor } from '../helpers/waitFor.js';

function rssMb(service: SpawnedService): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${String(service.process.pid)}/status`, 'utf8'));
  return Number(match?.[1]) / 1024;
}

/**
 * The lowest RSS over a few seconds. Under load the V8 heap breathes by ±15 %
 * between collections; the floor is what stays after them, so a leak raises it.
 */
async function rssFloorMb(service: SpawnedService, windowMs = 3_000): Promise<number> {
  let floor = Number.POSITIVE_INFINITY;
  for (const end = Date.now() + windowMs; Date.now() < end; ) {
    floor = Math.min(floor, rssMb(service));
    await new Promise((wake) => setTimeout(wake, 50));
  }
  return floor;
}

describe('models from S3 (a real MinIO server): live swaps under load', function () {
  this.timeout(240_000);
  let store: MinioServer;
  let service: SpawnedService;
  let client: FraudClient;

  before(async () => {
    store = await startModelStore();
    service = await spawnService(s3Env(store, { FRAUD_LOG_LEVEL: 'info' }));
    await service.waitForLog('serving');
    client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
  });

  after(async () => {
    client.close();
    await service.kill();
    await store.stop();
  });

  it('should swap to a new version published under load, with zero failed calls, within poll interval + 2 s', async () => {
    const load = new LoadLoop(client);
    await waitFor('answers from 1.0.0', () => load.latestVersion.startsWith('1.0.0@'));
    const published = load.elapsed;
    await publish(store, BUCKET, 'main/models', 'binary-zipmap-f32-v2');
    await waitFor('answers from 2.0.0', () => load.latestVersion.startsWith('2.0.0@'), 10_000);
    const report = await load.stop();
    const switched = [...report.firstSeen].find(([version]) => version.startsWith('2.0.0@'))?.[1] ?? Number.NaN;
    console.log(`      ${report.calls} calls, ${report.failures.length} failed; 2.0.0 answered ${switched - published} ms after the manifest landed (poll interval 1 s)`);
    assert.deepEqual(report.failures, []);
    assert.ok(switched - published <= 3_000, `${switched - published} ms`);
    const swap = service.logs.find((record) => record.msg === 'model swapped');
    assert.deepEqual((swap?.model as { version: string }).version, '2.0.0');
    assert.deepEqual((swap?.previous as { version: string }).version, '1.0.0');
  });

  it('should swap 20 times in a row under load with zero failed calls and release the old sessions (RSS stable)', async () => {
    const load = new LoadLoop(client);
    // Let the heap reach its working size under this load first, so RSS growth means a leak, not warm-up.
    await new Promise((wake) => setTimeout(wake, 3_000));
    const swapsBefore = service.logs.filter((record) => record.msg === 'model swapped').length;
    let rssAfterFirst = 0;
    for (let swap = 1; swap <= 20; swap++) {
      const fixture = swap % 2 === 1 ? 'binary-zipmap-f32' : 'binary-zipmap-f32-v2';
      const version = swap % 2 === 1 ? '1.0.0' : '2.0.0';
      await publish(store, BUCKET, 'main/models', fixture);
      await waitFor(`swap ${swap}`, () => service.logs.filter((record) => record.msg === 'model swapped').length === swapsBefore + swap, 10_000);
      await waitFor(`answers from ${version}`, () => load.latestVersion.startsWith(`${version}@`), 5_000);
      if (swap === 1) rssAfterFirst = await rssFloorMb(service);
    }
    const rssAfterLast = await rssFloorMb(service);
    const report = await load.stop();
    const text = await scrape(service.metricsPort);
    console.log(`      20 swaps: ${report.calls} calls, ${report.failures.length} failed; RSS floor under load ${rssAfterFirst.toFixed(1)} MB after the 1st swap, ${rssAfterLast.toFixed(1)} MB after the 20th`);
    assert.deepEqual(report.failures, []);
    assert.ok(rssAfterLast <= rssAfterFirst * 1.2, `RSS grew from ${rssAfterFirst} to ${rssAfterLast} MB`);
    assert.equal(sample(text, 'fraud_model_loads_total{task="binary"}'), 22);
    assert.equal(sample(text, 'fraud_model_sessions_open'), 2, 'one native session per task: the replaced ones are released');
    assert.match(text, /fraud_model_info\{task="binary",name="fraud-binary",version="2\.0\.0",revision="[0-9a-f]{32}",source="s3:\/\/fraud-models\/main\/models\/fraud-binary\.json"\} 1/);
  });

  it('should wait, without alarm, for an .onnx that lands after its manifest', async () => {
    const failuresBefore = sample(await scrape(service.metricsPort), 'fraud_model_load_failures_total{task="binary",reason="sha256"}') ?? 0;
    const v1 = 'binary-zipmap-f32';
    // The manifest of 1.0.0 lands next to the 2.0.0 .onnx: a reader sees a sha256 mismatch for a moment.
    await publish(store, BUCKET, 'main/models', v1, { skipModel: true });
    await waitFor('the pending log line', () => service.logs.some((record) => record.msg === 'new manifest waits for its model file; retrying'), 10_000);
    assert.equal(sample(await scrape(service.metricsPort), 'fraud_model_pending_version{task="binary"}'), 1);
    await publish(store, BUCKET, 'main/models', v1);
    await waitFor('the swap to 1.0.0', async () => (await client.predict({ transactionId: 1, customerId: 1, terminalId: 1, txAmount: 5, txTimeSeconds: 1 })).model?.version === '1.0.0', 10_000);
    const text = await scrape(service.metricsPort);
    assert.equal(sample(text, 'fraud_model_pending_version{task="binary"}'), 0);
    assert.equal(sample(text, 'fraud_model_load_failures_total{task="binary",reason="sha256"}') ?? 0, failuresBefore);
  });
});

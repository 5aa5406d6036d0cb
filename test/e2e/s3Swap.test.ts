import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FraudClient } from '../../client/fraudClient.js';
import { ExpectedAnswers } from '../helpers/expectedAnswers.js';
import { largeSessionModel } from '../helpers/largeSessionModel.js';
import { LoadLoop, loadFigures, stoppedAfterEach } from '../helpers/loadLoop.js';
import type { MinioServer } from '../helpers/minio.js';
import { readModel, type ModelFiles } from '../helpers/modelFixtures.js';
import { BUCKET, publish, s3Env, startModelStore } from '../helpers/modelStore.js';
import { bundled } from '../helpers/paths.js';
import { scrape, sample } from '../helpers/scrape.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { waitFor } from '../helpers/waitFor.js';

/** Rows of the large models' table: each session holds 32 MiB of probabilities, so one leaked session shows in RSS. */
const LARGE_ROWS = 4 * 1024 * 1024;
const LARGE_TABLE_MB = (LARGE_ROWS * 8) / 2 ** 20;
const SWAPS = 20;

function rssMb(service: SpawnedService): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${String(service.process.pid)}/status`, 'utf8'));
  return Number(match?.[1]) / 1024;
}

/** Two versions of the large-session model side by side; a swap replaces only the manifest that points to one. */
async function storeLargeVersions(store: MinioServer): Promise<{ files: ModelFiles; onnx: string }[]> {
  const versions = [largeSessionModel('large-a', LARGE_ROWS, 0.618034), largeSessionModel('large-b', LARGE_ROWS, 0.414214)].map((files, index) => ({
    files,
    onnx: `fraud-binary-large-${index}.onnx`,
  }));
  for (const { files, onnx } of versions) await store.put(BUCKET, `main/models/${onnx}`, files.model);
  return versions;
}

async function pointTo(store: MinioServer, version: { files: ModelFiles; onnx: string }): Promise<void> {
  await store.put(BUCKET, 'main/models/fraud-binary.json', JSON.stringify({ ...version.files.manifest, model_file: version.onnx }));
}

describe('models from S3 (a real MinIO server): live swaps under load', function () {
  this.timeout(240_000);
  let store: MinioServer;
  let service: SpawnedService;
  let client: FraudClient;
  const tracked = stoppedAfterEach();

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

  it('should swap to a new version published under load, with zero failed calls and every answer its own', async () => {
    const expected = await ExpectedAnswers.of([readModel('binary-zipmap-f32'), readModel('binary-zipmap-f32-v2'), readModel(bundled('fraud-scenario'))]);
    const load = tracked(new LoadLoop(client, expected));
    await waitFor('answers from 1.0.0', () => load.latestOf().startsWith('1.0.0@'));
    const published = load.elapsed;
    await publish(store, BUCKET, 'main/models', 'binary-zipmap-f32-v2');
    await waitFor('answers from 2.0.0', () => load.latestOf().startsWith('2.0.0@'), 10_000);
    const report = await load.stop();
    const switched = (load.firstSeenAt((version) => version.startsWith('2.0.0@')) ?? Number.NaN) - published;
    console.log(`      ${loadFigures(report)}; 2.0.0 answered ${switched} ms after the manifest landed (poll interval 1 s)`);
    assert.deepEqual(report.failures, []);
    assert.deepEqual(report.wrong, []);
    const swap = service.logs.find((record) => record.msg === 'model swapped');
    assert.deepEqual((swap?.model as { version: string }).version, '2.0.0');
    assert.deepEqual((swap?.previous as { version: string }).version, '1.0.0');
  });

  it(`should swap ${SWAPS} times in a row under load, with zero failed calls, every answer its own, and one session per task left open`, async () => {
    const versions = await storeLargeVersions(store);
    // 2.0.0 from the test before serves until the first swap.
    const expected = await ExpectedAnswers.of([...versions.map(({ files }) => files), readModel('binary-zipmap-f32-v2'), readModel(bundled('fraud-scenario'))]);
    const load = tracked(new LoadLoop(client, expected));
    const swapsBefore = service.logs.filter((record) => record.msg === 'model swapped').length;
    for (let swap = 1; swap <= SWAPS; swap++) {
      const version = versions[swap % 2] as (typeof versions)[number];
      await pointTo(store, version);
      await waitFor(`swap ${swap}`, () => service.logs.filter((record) => record.msg === 'model swapped').length === swapsBefore + swap, 20_000);
      await waitFor(`answers from ${String(version.files.manifest.version)}`, () => load.latestOf().startsWith(`${String(version.files.manifest.version)}@`), 5_000);
    }
    const report = await load.stop();
    const text = await scrape(service.metricsPort);
    console.log(`      ${SWAPS} swaps under load (${LARGE_TABLE_MB} MiB sessions): ${loadFigures(report)}`);
    assert.deepEqual(report.failures, []);
    assert.deepEqual(report.wrong, []);
    assert.equal(sample(text, 'fraud_model_sessions_open'), 2, 'one native session per task: the replaced ones are released');
    assert.match(text, /fraud_model_info\{task="binary",name="fraud-binary",version="large-a",revision="[0-9a-f]{32}",source="s3:\/\/fraud-models\/main\/models\/fraud-binary\.json"\} 1/);
    // Prediction series only for the serving version: each replaced one's went with its last call.
    const counted = async (): Promise<string[]> =>
      [...(await scrape(service.metricsPort)).matchAll(/^fraud_(?:prediction_score_count|predictions_total)\{task="binary",[^}]*version="([^"]+)"/gm)].map((match) => match[1] ?? '');
    await waitFor('only large-a counted', async () => (await counted()).every((version) => version === 'large-a'));
    assert.ok((await counted()).length >= 2, 'the serving version is counted');
  });

  it(`should release each replaced session natively: RSS stays flat over ${SWAPS} swaps of models whose sessions hold ${LARGE_TABLE_MB} MiB`, async () => {
    // Idle, on purpose: under load V8 collects garbage every few seconds, and
    // onnxruntime-node's finalizer then frees a session that was never released,
    // which hides the leak. Idle, nothing frees it but release(). glibc's allocator
    // is told to hand large blocks back to the system at once, so RSS shows what
    // is held, not what the allocator keeps for later.
    const idle = await spawnService(s3Env(store, { FRAUD_LOG_LEVEL: 'info', MALLOC_MMAP_THRESHOLD_: '131072' }));
    try {
      await idle.waitForLog('serving');
      const versions = await storeLargeVersions(store);
      const readings: number[] = [];
      for (let swap = 1; swap <= SWAPS; swap++) {
        await pointTo(store, versions[swap % 2] as (typeof versions)[number]);
        await waitFor(`swap ${swap}`, () => idle.logs.filter((record) => record.msg === 'model swapped' || record.msg === 'model loaded').length >= swap + 2, 20_000);
        // The counter says the old session was let go; RSS says whether it really was.
        await waitFor('the replaced session released', async () => sample(await scrape(idle.metricsPort), 'fraud_model_sessions_open') === 2);
        readings.push(rssMb(idle));
      }
      // After two swaps both versions have served once: that is the baseline.
      const baseline = readings[1] as number;
      const peak = Math.max(...readings.slice(1));
      console.log(`      RSS after each of ${SWAPS} swaps (MB): ${readings.map((value) => value.toFixed(0)).join(' ')}; peak ${(peak - baseline).toFixed(1)} MB above the 2nd swap`);
      // Each leaked session adds a table (32 MiB); two between garbage collections break the bound.
      assert.ok(peak - baseline <= 1.5 * LARGE_TABLE_MB, `RSS rose ${(peak - baseline).toFixed(1)} MB above ${baseline.toFixed(1)} MB: replaced sessions are not released`);
    } finally {
      await idle.kill();
    }
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

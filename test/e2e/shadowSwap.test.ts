import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { FraudCallError, FraudClient } from '../../client/fraudClient.js';
import { ExpectedAnswers } from '../helpers/expectedAnswers.js';
import { LoadLoop, loadFigures, stoppedAfterEach } from '../helpers/loadLoop.js';
import type { MinioServer } from '../helpers/minio.js';
import { readModel } from '../helpers/modelFixtures.js';
import { BUCKET, publish, s3Env, startModelStore } from '../helpers/modelStore.js';
import { bundled } from '../helpers/paths.js';
import { sample, scrape } from '../helpers/scrape.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { waitFor } from '../helpers/waitFor.js';

/** The challenger's branch, as a lakeFS repository lays it out: s3://<repository>/candidate/models/. */
const SHADOW_PREFIX = 'candidate/models';

describe('a shadow model from S3 (a real MinIO server): live swaps under load', function () {
  this.timeout(120_000);
  let store: MinioServer;
  let service: SpawnedService;
  let client: FraudClient;
  const tracked = stoppedAfterEach();

  before(async () => {
    store = await startModelStore();
    await publish(store, BUCKET, SHADOW_PREFIX, 'binary-zipmap-f32', {
      change: (manifest) => {
        manifest.version = '1.1.0-challenger';
      },
    });
    service = await spawnService(
      s3Env(store, {
        FRAUD_LOG_LEVEL: 'info',
        FRAUD_BINARY_SHADOW_MODEL_URI: `s3://${BUCKET}/${SHADOW_PREFIX}/fraud-binary.json`,
        // About swaps, not shedding: the shadow runs under the test's load, however busy the loop.
        FRAUD_SHADOW_SHED_LOOP_BUSY: '1',
      }),
    );
    await service.waitForLog('serving');
    client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
  });

  after(async () => {
    client.close();
    await service.kill();
    await store.stop();
  });

  const shadowVersion = async (): Promise<string | undefined> => (await client.getModelInfo()).shadows[0]?.model?.version;
  const metric = async (series: string): Promise<number> => sample(await scrape(service.metricsPort), series) ?? 0;

  it('should swap the shadow to a new version with no failed call, refuse a bad one and keep shadowing with the last good one, serving SERVING throughout', async () => {
    await waitFor('the first shadow loaded', async () => (await shadowVersion()) === '1.1.0-challenger');
    const expected = await ExpectedAnswers.of([readModel('binary-zipmap-f32'), readModel(bundled('fraud-scenario'))]);
    const load = tracked(new LoadLoop(client, expected));
    await waitFor('shadow runs of 1.1.0-challenger', async () => (await metric('fraud_shadow_model_inference_duration_seconds_count{task="binary"}')) > 0);

    // A call refused by the history after its shadow was taken (a conflicting repeat) gives the shadow back.
    const first = { transactionId: 9_900_001, customerId: 9_900_001, terminalId: 9_900_002, txAmount: 10, txTimeSeconds: 3600 };
    await client.predict(first);
    const refused = await client.predict({ ...first, txAmount: 11 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(refused instanceof FraudCallError && refused.code === status.ALREADY_EXISTS, String(refused));

    await publish(store, BUCKET, SHADOW_PREFIX, 'binary-zipmap-f32-v2');
    await waitFor('the shadow swapped to 2.0.0', async () => (await shadowVersion()) === '2.0.0', 15_000);
    // Two serving sessions and one shadow's: the replaced shadow's session is released once its last run ends.
    await waitFor('the old shadow session released', async () => (await metric('fraud_model_sessions_open')) === 3, 15_000);
    const before = await metric('fraud_shadow_model_inference_duration_seconds_count{task="binary"}');
    await waitFor('shadow runs of 2.0.0', async () => (await metric('fraud_shadow_model_inference_duration_seconds_count{task="binary"}')) > before);

    // A version whose samples are not what the model computes: refused, 2.0.0 keeps shadowing.
    await publish(store, BUCKET, SHADOW_PREFIX, 'binary-zipmap-f32', {
      change: (manifest) => {
        manifest.version = '3.0.0-bad';
        const samples = manifest.samples as { probabilities: number[] }[];
        if (samples[0] !== undefined) samples[0].probabilities = [0.123, 0.877];
      },
    });
    const info = await waitFor('the bad version refused', async () => {
      const answer = await client.getModelInfo();
      return answer.shadows[0]?.lastError !== '' && answer;
    }, 15_000);
    const [shadow] = info.shadows;
    assert.ok(shadow !== undefined);
    assert.equal(shadow.model?.version, '2.0.0');
    assert.equal(shadow.serving, true);
    assert.match(shadow.lastError, /3\.0\.0-bad/);
    assert.equal(await metric('fraud_shadow_model_load_failures_total{task="binary",reason="smoke"}'), 1);
    const afterRefusal = await metric('fraud_shadow_model_inference_duration_seconds_count{task="binary"}');
    await waitFor('shadow runs go on', async () => (await metric('fraud_shadow_model_inference_duration_seconds_count{task="binary"}')) > afterRefusal);
    assert.ok((await metric('fraud_shadow_predictions_total{task="binary",model="fraud-binary",version="2.0.0",class="simple_transaction"}')) > 0);

    const report = await load.stop();
    console.log(`      ${loadFigures(report)}`);
    assert.deepEqual(report.failures, []);
    assert.deepEqual(report.wrong, []);
    assert.equal(await client.checkHealth(), 'SERVING');
    assert.equal(await metric('fraud_model_serving{task="binary"}'), 1);
    assert.equal(await metric('fraud_model_load_failures_total{task="binary",reason="smoke"}'), 0);
    // Readiness never flipped: one "serving" line, no "not serving" since.
    assert.deepEqual(service.logs.filter((record) => record.msg === 'serving' || record.msg === 'not serving').map((record) => record.msg), ['serving']);
  });
});

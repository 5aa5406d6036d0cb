import assert from 'node:assert/strict';
import { FraudClient } from '../../client/fraudClient.js';
import type { MinioServer } from '../helpers/minio.js';
import { readModel } from '../helpers/modelFixtures.js';
import { BUCKET, publish, s3Env, startModelStore } from '../helpers/modelStore.js';
import { scrape, sample } from '../helpers/scrape.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { transaction } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

describe('models from S3 (a real MinIO server): bad versions are refused, the old one keeps serving', function () {
  this.timeout(120_000);
  let store: MinioServer;
  let service: SpawnedService;
  let client: FraudClient;

  before(async () => {
    store = await startModelStore();
    service = await spawnService(s3Env(store, { FRAUD_MODEL_PENDING_SECONDS: '2' }));
    await service.waitForLog('serving');
    client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
  });

  after(async () => {
    client.close();
    await service.kill();
    await store.stop();
  });

  const corrupt = Buffer.concat([readModel('binary-zipmap-f32').model.subarray(0, 64), Buffer.from('not the rest of a model')]);
  const cases: [string, string, Parameters<typeof publish>[3], Parameters<typeof publish>[4], RegExp][] = [
    ['corrupt .onnx bytes', 'onnx', 'binary-zipmap-f32-v2', { modelBytes: corrupt }, /onnxruntime cannot load the model|not a readable ONNX model/],
    ['a sha256 mismatch that never resolves', 'sha256', 'binary-zipmap-f32-v2', { change: (manifest) => (manifest.sha256 = 'ab'.repeat(32)) }, /the manifest says (ab){32}/],
    ['an input signature that differs from the manifest', 'signature', 'binary-zipmap-f32-v2', { change: (manifest) => (manifest.input = { name: 'features', element_type: 'float32' }) }, /the model's input is input, the manifest says features/],
    ['a multiclass model at the binary model\'s path', 'task', 'scenario-zipmap-f32', {}, /is a multiclass model; the binary task needs a binary model/],
    ['a manifest that fails the schema', 'manifest', 'binary-zipmap-f32-v2', { change: (manifest) => (manifest.classes = 'FRAUD') }, /does not fit the manifest schema: \/classes must be array/],
  ];

  for (const [what, reason, fixture, options, message] of cases) {
    it(`should refuse ${what} (reason ${reason}), log why, count it, and keep answering with 1.0.0`, async () => {
      const series = `fraud_model_load_failures_total{task="binary",reason="${reason}"}`;
      const before = sample(await scrape(service.metricsPort), series) ?? 0;
      const logsBefore = service.logs.length;
      await publish(store, BUCKET, 'main/models', fixture, options);
      const refusal = await waitFor(
        'the refusal log line',
        () => service.logs.slice(logsBefore).find((record) => record.msg === 'model version refused; serving model unchanged'),
        10_000,
      );
      assert.equal(refusal.reason, reason);
      assert.equal(refusal.task, 'binary');
      assert.match(String(refusal.error), message);
      assert.equal(sample(await scrape(service.metricsPort), series), before + 1);
      const answer = await client.predict(transaction({ txAmount: 250 }));
      assert.equal(answer.model?.version, '1.0.0');
      const { models } = await client.getModelInfo();
      assert.match(models[0]?.lastError ?? '', message);
      console.log(`      refused (${reason}): ${String(refusal.error).slice(0, 110)}…`);
      // Not retried until the object changes again: two more checks of the source see the same object and leave it refused.
      const checkedAt = async (): Promise<number> =>
        sample(await scrape(service.metricsPort), 'fraud_model_last_check_success_timestamp_seconds{task="binary"}') ?? 0;
      for (let check = 0; check < 2; check++) {
        const last = await checkedAt();
        await waitFor('the next check of the source', async () => (await checkedAt()) > last, 10_000);
      }
      assert.equal(sample(await scrape(service.metricsPort), series), before + 1);
    });
  }

  it('should take the next good version after the refusals', async () => {
    await publish(store, BUCKET, 'main/models', 'binary-zipmap-f32-v2');
    await waitFor('2.0.0', async () => (await client.predict(transaction())).model?.version === '2.0.0', 10_000);
    const { models } = await client.getModelInfo();
    assert.equal(models[0]?.lastError, '');
  });
});

import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FraudCallError, FraudClient } from '../../client/fraudClient.js';
import { MinioServer } from '../helpers/minio.js';
import { BUCKET, publish, s3Env } from '../helpers/modelStore.js';
import { bundled } from '../helpers/paths.js';
import { spawnService } from '../helpers/spawnService.js';
import { transaction } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';


describe('models from S3 (a real MinIO server): start-up', function () {
  this.timeout(120_000);
  let store: MinioServer;
  let cacheDir: string;

  before(async () => {
    store = await MinioServer.start();
    await store.createBucket(BUCKET);
    await publish(store, BUCKET, 'main/models', bundled('fraud-binary'), { as: 'fraud-binary' });
    await publish(store, BUCKET, 'main/models', bundled('fraud-scenario'), { as: 'fraud-scenario' });
    cacheDir = await mkdtemp(join(tmpdir(), 'fraud-cache-'));
  });

  after(async () => {
    await store.stop();
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('should start cold from S3, report the ETag as revision, and keep a cached copy', async () => {
    const service = await spawnService(s3Env(store, { FRAUD_MODEL_CACHE_DIR: cacheDir }));
    const client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
    try {
      const serving = await service.waitForLog('serving');
      console.log(`      cold start from S3: SERVING ${String(serving.uptimeMs)} ms after process start`);
      const answer = await client.predict(transaction({ txAmount: 250 }));
      assert.equal(answer.prediction, 'FRAUD');
      assert.match(answer.model?.revision ?? '', /^[0-9a-f]{32}$/, 'the manifest ETag');
      const { models } = await client.getModelInfo();
      assert.equal(models[0]?.source, `s3://${BUCKET}/main/models/fraud-binary.json`);
      assert.deepEqual((await readdir(join(cacheDir, 'binary'))).length, 3, 'current.json, .json, .onnx');
    } finally {
      client.close();
      await service.kill();
    }
  });

  it('should serve the cached copy when S3 is down at start-up, then follow S3 when it is back', async () => {
    await store.pause();
    const service = await spawnService(s3Env(store, { FRAUD_MODEL_CACHE_DIR: cacheDir }));
    const client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
    try {
      const serving = await service.waitForLog('serving');
      console.log(`      start from the cache with S3 down: SERVING ${String(serving.uptimeMs)} ms after process start`);
      assert.ok(service.logs.some((record) => record.msg === 'model source unavailable: serving the cached copy of the last good version'));
      assert.equal((await client.predict(transaction({ txAmount: 250 }))).prediction, 'FRAUD');
      await store.resume();
      await waitFor('the source to be reachable again', () => service.logs.some((record) => record.msg === 'model source reachable again'), 20_000);
      // Same ETag as the cached copy: no reload.
      assert.equal(service.logs.filter((record) => record.msg === 'model swapped').length, 0);
    } finally {
      client.close();
      await service.kill();
    }
  });

  it('should serve the cached copy when the store holds a version that fails its checks at start-up', async () => {
    await publish(store, BUCKET, 'main/models', bundled('fraud-binary'), { as: 'fraud-binary', change: (manifest) => (manifest.task = 'multiclass') });
    const service = await spawnService(s3Env(store, { FRAUD_MODEL_CACHE_DIR: cacheDir }));
    const client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
    try {
      await service.waitForLog('serving');
      const refusal = service.logs.find((record) => record.msg === 'model version refused; serving model unchanged');
      assert.equal(refusal?.reason, 'manifest');
      assert.equal((await client.predict(transaction({ txAmount: 250 }))).model?.name, 'fraud-binary');
      const { models } = await client.getModelInfo();
      assert.match(models[0]?.lastError ?? '', /does not fit the manifest schema/);
    } finally {
      client.close();
      await service.kill();
      await publish(store, BUCKET, 'main/models', bundled('fraud-binary'), { as: 'fraud-binary' });
    }
  });

  it('should stay NOT_SERVING while S3 is down with no cache, and flip to SERVING when it comes up', async () => {
    await store.pause();
    const service = await spawnService(s3Env(store));
    const client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
    try {
      await service.waitForLog('listening');
      // The first check has failed: what a caller sees now is what S3 being down gives.
      await service.waitForLog('model source check failed; serving model unchanged');
      assert.equal(await client.checkHealth(''), 'NOT_SERVING');
      await assert.rejects(client.predict(transaction()), (error: unknown) => error instanceof FraudCallError && error.code === status.UNAVAILABLE);
      const unreachable = service.logs.find((record) => record.msg === 'model source check failed; serving model unchanged');
      assert.match(String(unreachable?.error), new RegExp(`s3://${BUCKET}/main/models/fraud-\\w+\\.json at ${store.endpoint}: unreachable`));
      const comeBack = Date.now();
      await store.resume();
      await waitFor('SERVING', async () => (await client.checkHealth('')) === 'SERVING', 20_000);
      console.log(`      S3 up late: SERVING ${Date.now() - comeBack} ms after MinIO came back`);
      assert.equal((await client.predict(transaction({ txAmount: 250 }))).prediction, 'FRAUD');
    } finally {
      client.close();
      await service.kill();
    }
  });
});

import assert from 'node:assert/strict';
import { FraudClient } from '../../client/fraudClient.js';
import { RecordedLakefsApi } from '../helpers/lakefsApi.js';
import { MINIO_PASSWORD, MINIO_USER, MinioServer } from '../helpers/minio.js';
import { BUCKET, publish, s3Env } from '../helpers/modelStore.js';
import { bundled } from '../helpers/paths.js';
import { spawnService } from '../helpers/spawnService.js';
import { transaction } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

describe('models from lakeFS: the branch is resolved to its commit (recorded lakeFS API, real MinIO as the S3 gateway)', function () {
  this.timeout(120_000);
  let store: MinioServer;
  let lakefs: RecordedLakefsApi;
  let apiEndpoint: string;

  before(async () => {
    store = await MinioServer.start();
    await store.createBucket(BUCKET);
    lakefs = new RecordedLakefsApi(MINIO_USER, MINIO_PASSWORD);
    apiEndpoint = await lakefs.start();
    const commit = lakefs.recordedCommit;
    // What lakeFS's gateway shows: the committed 1.0.0 under the commit id, and an
    // uncommitted (staged) 2.0.0 through the branch name.
    await publish(store, BUCKET, `${commit}/models`, 'binary-zipmap-f32');
    await publish(store, BUCKET, `${commit}/models`, bundled('fraud-scenario'), { as: 'fraud-scenario' });
    await publish(store, BUCKET, 'main/models', 'binary-zipmap-f32-v2');
    await publish(store, BUCKET, 'main/models', bundled('fraud-scenario'), { as: 'fraud-scenario' });
  });

  after(async () => {
    await lakefs.stop();
    await store.stop();
  });

  it('should serve only the committed model, report the commit id, and follow the branch to its next commit', async () => {
    const service = await spawnService(s3Env(store, { FRAUD_LAKEFS_API_ENDPOINT: apiEndpoint }));
    const client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
    try {
      await service.waitForLog('serving');
      const committed = lakefs.recordedCommit;
      const first = await client.predict(transaction({ txAmount: 250 }));
      assert.equal(first.model?.version, '1.0.0', 'the staged 2.0.0 must not be served');
      assert.equal(first.model.revision, committed);
      assert.ok(lakefs.requests.includes('GET /api/v1/repositories/fraud-models/branches/main'));

      // A merge moves main to a new commit holding 2.0.0.
      const next = 'b'.repeat(64);
      await publish(store, BUCKET, `${next}/models`, 'binary-zipmap-f32-v2');
      await publish(store, BUCKET, `${next}/models`, bundled('fraud-scenario'), { as: 'fraud-scenario' });
      lakefs.commits.add(next);
      lakefs.branches.set('main', next);
      await waitFor('the new commit', async () => (await client.predict(transaction())).model?.revision === next, 10_000);
      const answer = await client.predict(transaction());
      assert.equal(answer.model?.version, '2.0.0');
      console.log(`      branch main → ${committed.slice(0, 12)}… served 1.0.0 (not the staged 2.0.0), then → ${next.slice(0, 12)}… served 2.0.0`);
    } finally {
      client.close();
      await service.kill();
    }
  });

  it('should stop polling a model pinned to a commit id', async () => {
    const commit = lakefs.recordedCommit;
    const service = await spawnService(
      s3Env(store, {
        FRAUD_LAKEFS_API_ENDPOINT: apiEndpoint,
        FRAUD_BINARY_MODEL_URI: `s3://${BUCKET}/${commit}/models/fraud-binary.json`,
        FRAUD_SCENARIO_MODEL_URI: `s3://${BUCKET}/${commit}/models/fraud-scenario.json`,
      }),
    );
    const client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
    try {
      await service.waitForLog('serving');
      assert.equal((await client.predict(transaction())).model?.revision, commit);
      await waitFor('polling off', () => service.logs.filter((record) => record.msg === 'model polling is off: the source cannot change or polling is disabled').length === 2);
      const requests = lakefs.requests.length;
      await new Promise((wake) => setTimeout(wake, 2_500));
      assert.equal(lakefs.requests.length, requests, 'no lakeFS calls after the pin is known');
    } finally {
      client.close();
      await service.kill();
    }
  });

  it('should say access denied, naming lakeFS, when the lakeFS API refuses the credentials', async () => {
    const refusing = new RecordedLakefsApi('someone-else', 'another-secret');
    const endpoint = await refusing.start();
    const service = await spawnService(s3Env(store, { FRAUD_LAKEFS_API_ENDPOINT: endpoint }));
    try {
      const failure = await service.waitForLog('model source check failed; serving model unchanged');
      assert.equal(failure.reason, 'denied');
      assert.equal(failure.error, `lakeFS at ${endpoint}: access denied (401) resolving fraud-models/main; check the credentials`);
    } finally {
      await service.kill();
      await refusing.stop();
    }
  });
});

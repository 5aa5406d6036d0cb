import assert from 'node:assert/strict';
import { FraudClient } from '../../client/fraudClient.js';
import { ExpectedAnswers } from '../helpers/expectedAnswers.js';
import { LoadLoop, loadFigures, stoppedAfterEach } from '../helpers/loadLoop.js';
import { MINIO_PASSWORD, type MinioServer } from '../helpers/minio.js';
import { readModel } from '../helpers/modelFixtures.js';
import { BUCKET, publish, s3Env, startModelStore } from '../helpers/modelStore.js';
import { bundled } from '../helpers/paths.js';
import { scrape, sample } from '../helpers/scrape.js';
import { spawnService } from '../helpers/spawnService.js';
import { waitFor } from '../helpers/waitFor.js';

const OUTAGE_MS = 30_000;

describe('models from S3 (a real MinIO server): store failures', function () {
  this.timeout(180_000);
  let store: MinioServer;
  const tracked = stoppedAfterEach();

  before(async () => {
    store = await startModelStore();
  });

  after(async () => {
    await store.stop();
  });

  it(`should keep serving through a ${OUTAGE_MS / 1000} s outage of the store, stay SERVING, and recover by itself`, async () => {
    const service = await spawnService(s3Env(store, { FRAUD_MODEL_RETRY_MAX_SECONDS: '4' }));
    const client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
    try {
      await service.waitForLog('serving');
      const expected = await ExpectedAnswers.of([readModel('binary-zipmap-f32'), readModel('binary-zipmap-f32-v2'), readModel(bundled('fraud-scenario'))]);
      const load = tracked(new LoadLoop(client, expected));
      const health: string[] = [];
      const stopWatching = new AbortController();
      const watching = (async () => {
        while (!stopWatching.signal.aborted) {
          health.push(await client.checkHealth('fraud.v1.FraudService').catch((error: unknown) => String(error)));
          await new Promise((wake) => setTimeout(wake, 500));
        }
      })();
      await store.pause();
      const down = Date.now();
      await new Promise((wake) => setTimeout(wake, OUTAGE_MS));
      await store.resume();
      const up = Date.now();
      await waitFor('polling to recover', () => service.logs.some((record) => record.msg === 'model source reachable again'), 20_000);
      const recoveredAfter = Date.now() - up;
      await publish(store, BUCKET, 'main/models', 'binary-zipmap-f32-v2');
      await waitFor('the version published after the outage', () => load.latestOf().startsWith('2.0.0@'), 15_000);
      stopWatching.abort();
      await watching;
      const report = await load.stop();
      const errors = sample(await scrape(service.metricsPort), 'fraud_model_source_errors_total{task="binary",reason="unreachable"}') ?? 0;
      const warnings = service.logs.filter((record) => record.msg === 'model source check failed; serving model unchanged' && record.level === 'warn');
      console.log(
        `      store down ${Math.round((up - down) / 1000)} s: ${loadFigures(report)}; ` +
          `${health.length} health checks, all SERVING: ${String(health.every((status) => status === 'SERVING'))}; ` +
          `${errors} failed polls counted, ${warnings.length} warning(s) logged; polling recovered ${recoveredAfter} ms after the store came back`,
      );
      assert.deepEqual(report.failures, []);
      assert.deepEqual(report.wrong, []);
      assert.ok(health.length > 50, `${health.length} health checks`);
      assert.ok(health.every((status) => status === 'SERVING'), health.join(','));
      assert.ok(errors >= 3, `${errors} failed polls`);
      assert.equal(warnings.length, 2, 'one warning per task for the whole outage, not one per poll');
    } finally {
      client.close();
      await service.kill();
    }
  });

  it('should name the endpoint and bucket when the credentials are wrong, and never show the secret', async () => {
    const secret = 'wrong-secret-3f9a1c7e5b';
    const service = await spawnService(s3Env(store, { AWS_SECRET_ACCESS_KEY: secret }));
    const client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
    try {
      const refusal = await service.waitForLog('model source check failed; serving model unchanged');
      assert.equal(refusal.reason, 'denied');
      assert.match(String(refusal.error), new RegExp(`^s3://${BUCKET}/main/models/fraud-\\w+\\.json at ${store.endpoint.replace(/\./g, '\\.')}: access denied \\(HTTP 403\\); check the credentials and their rights on bucket ${BUCKET}$`));
      const { models } = await client.getModelInfo();
      assert.match(models[0]?.lastError ?? '', /access denied/);
      assert.equal(await client.checkHealth(''), 'NOT_SERVING');
      const metrics = await scrape(service.metricsPort);
      assert.ok((sample(metrics, 'fraud_model_source_errors_total{task="binary",reason="denied"}') ?? 0) >= 1);
      console.log(`      wrong credentials: ${String(refusal.error)}`);
      await service.kill();
      const everything = [JSON.stringify(service.logs), service.stderr.join(''), JSON.stringify(models), metrics].join('\n');
      assert.ok(!everything.includes(secret), 'the wrong secret appears in the output');
      assert.ok(!everything.includes(MINIO_PASSWORD), 'the real secret appears in the output');
    } finally {
      client.close();
      await service.kill();
    }
  });
});

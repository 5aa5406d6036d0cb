import { credentials } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { FraudClient } from '../../client/fraudClient.js';
import { HealthCheckResponse_ServingStatus, HealthClient, type HealthCheckResponse } from '../../src/gen/grpc/health/v1/health.js';
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
    // The health Watch stream: every change of status the service makes, not samples of it.
    const healthClient = new HealthClient(service.address, credentials.createInsecure());
    const health: string[] = [];
    let watch: ReturnType<HealthClient['watch']> | undefined;
    try {
      await service.waitForLog('serving');
      watch = healthClient.watch({ service: 'fraud.v1.FraudService' });
      watch.on('data', (response: HealthCheckResponse) => health.push(HealthCheckResponse_ServingStatus[response.status]));
      watch.on('error', (error: Error) => health.push(error.message));
      watch.on('end', () => health.push('the Watch ended'));
      await waitFor('the first status on the health Watch', () => health.length > 0);
      const expected = await ExpectedAnswers.of([readModel('binary-zipmap-f32'), readModel('binary-zipmap-f32-v2'), readModel(bundled('fraud-scenario'))]);
      const load = tracked(new LoadLoop(client, expected));
      await store.pause();
      const down = Date.now();
      await new Promise((wake) => setTimeout(wake, OUTAGE_MS));
      await store.resume();
      const up = Date.now();
      await waitFor('polling to recover', () => service.logs.some((record) => record.msg === 'model source reachable again'), 20_000);
      const recoveredAfter = Date.now() - up;
      await publish(store, BUCKET, 'main/models', 'binary-zipmap-f32-v2');
      await waitFor('the version published after the outage', () => load.latestOf().startsWith('2.0.0@'), 15_000);
      const report = await load.stop();
      const errors = sample(await scrape(service.metricsPort), 'fraud_model_source_errors_total{task="binary",reason="unreachable"}') ?? 0;
      const warnings = service.logs.filter((record) => record.msg === 'model source check failed; serving model unchanged' && record.level === 'warn');
      console.log(
        `      store down ${Math.round((up - down) / 1000)} s: ${loadFigures(report)}; ` +
          `health Watch: ${health.join(', ')}; ` +
          `${errors} failed polls counted, ${warnings.length} warning(s) logged; polling recovered ${recoveredAfter} ms after the store came back`,
      );
      assert.deepEqual(report.failures, []);
      assert.deepEqual(report.wrong, []);
      assert.deepEqual(health, ['SERVING'], 'the Watch saw a change of status, or ended, during the outage');
      assert.ok(errors >= 3, `${errors} failed polls`);
      assert.equal(warnings.length, 2, 'one warning per task for the whole outage, not one per poll');
    } finally {
      watch?.cancel();
      healthClient.close();
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

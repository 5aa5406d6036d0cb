import { Server, credentials, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HealthCheckResponse_ServingStatus as Serving,
  HealthClient,
  type HealthCheckResponse,
  type HealthListResponse,
} from '../../src/gen/grpc/health/v1/health.js';
import { listen } from '../../src/api/grpcServer.js';
import { ServingHealth, ServingStatus } from '../../src/api/servingHealth.js';
import { readModel } from '../helpers/modelFixtures.js';
import { bundled, BUNDLED } from '../helpers/paths.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

function check(client: HealthClient, service: string): Promise<Serving> {
  return new Promise((resolveCheck, rejectCheck) => {
    client.check({ service }, (error: ServiceError | null, response: HealthCheckResponse) => {
      if (error) rejectCheck(error);
      else resolveCheck(response.status);
    });
  });
}

describe('health (grpc.health.v1)', () => {
  it('should report NOT_SERVING until both models are loaded, then SERVING, for "" and fraud.v1.FraudService', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'fraud-health-'));
    const binaryManifest = join(folder, 'fraud-binary.json');
    const running = await startTestService({ FRAUD_BINARY_MODEL_URI: binaryManifest, FRAUD_MODEL_RETRY_MAX_SECONDS: '1' }, false);
    const client = new HealthClient(running.address, credentials.createInsecure());
    const seen: Serving[] = [];
    const watch: ClientReadableStream<HealthCheckResponse> = client.watch({ service: 'fraud.v1.FraudService' });
    watch.on('data', (response: HealthCheckResponse) => seen.push(response.status));
    watch.on('error', () => undefined);
    try {
      await waitFor('the multiclass model', () => running.service.registry.serves('multiclass'));
      assert.equal(await check(client, ''), Serving.NOT_SERVING);
      assert.equal(await check(client, 'fraud.v1.FraudService'), Serving.NOT_SERVING);
      // What the alert FraudScoringNotServing reads: the same answer as health, by name.
      const notServing = await scrape(running.service.metricsPort);
      assert.equal(sample(notServing, 'fraud_health_serving{service=""}'), 0);
      assert.equal(sample(notServing, 'fraud_health_serving{service="fraud.v1.FraudService"}'), 0);
      assert.equal(sample(notServing, 'fraud_health_serving{service="fraud.v1.FraudService/multiclass"}'), 0);

      // The binary model arrives late: the service picks it up and flips to SERVING.
      const { manifest } = readModel(bundled('fraud-binary'));
      await copyFile(join(BUNDLED, manifest.model_file), join(folder, manifest.model_file));
      await copyFile(bundled('fraud-binary'), binaryManifest);
      await waitFor('SERVING', async () => (await check(client, '')) === Serving.SERVING, 15_000);
      assert.equal(await check(client, 'fraud.v1.FraudService'), Serving.SERVING);
      await waitFor('Watch to see SERVING', () => seen.includes(Serving.SERVING));
      assert.deepEqual(seen, [Serving.NOT_SERVING, Serving.SERVING]);
      const serving = await scrape(running.service.metricsPort);
      for (const name of ['', 'fraud.v1.FraudService', 'fraud.v1.FraudService/binary', 'fraud.v1.FraudService/multiclass']) {
        assert.equal(sample(serving, `fraud_health_serving{service="${name}"}`), 1, name);
      }
    } finally {
      watch.cancel();
      client.close();
      await running.stop();
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('should answer NOT_FOUND for a service it does not know', async () => {
    const running = await startTestService();
    const client = new HealthClient(running.address, credentials.createInsecure());
    try {
      await assert.rejects(check(client, 'no.such.Service'), (error: ServiceError) => error.code === status.NOT_FOUND);
    } finally {
      client.close();
      await running.stop();
    }
  });

  it('should list every service it reports on', async () => {
    const running = await startTestService();
    const client = new HealthClient(running.address, credentials.createInsecure());
    try {
      const statuses = await new Promise<Record<string, HealthCheckResponse>>((resolveList, rejectList) => {
        client.list({}, (error: ServiceError | null, response: HealthListResponse) => {
          if (error) rejectList(error);
          else resolveList(response.statuses);
        });
      });
      assert.deepEqual(statuses, {
        '': { status: Serving.SERVING },
        'fraud.v1.FraudService': { status: Serving.SERVING },
        'fraud.v1.FraudService/binary': { status: Serving.SERVING },
        'fraud.v1.FraudService/multiclass': { status: Serving.SERVING },
        'fraud.v1.FraudService/history': { status: Serving.SERVING },
      });
    } finally {
      client.close();
      await running.stop();
    }
  });

  it('should answer SERVICE_UNKNOWN on a Watch of a service it does not know', async () => {
    const running = await startTestService();
    const client = new HealthClient(running.address, credentials.createInsecure());
    const watch = client.watch({ service: 'no.such.Service' });
    try {
      const first = await new Promise<HealthCheckResponse>((resolveWatch) => watch.once('data', resolveWatch));
      assert.equal(first.status, Serving.SERVICE_UNKNOWN);
    } finally {
      watch.cancel();
      watch.on('error', () => undefined);
      client.close();
      await running.stop();
    }
  });

  it('should flip to NOT_SERVING as soon as shutdown starts, then end the Watch streams so the drain is not held', async () => {
    const running = await startTestService({ FRAUD_SHUTDOWN_GRACE_SECONDS: '30' });
    const client = new HealthClient(running.address, credentials.createInsecure());
    const seen: Serving[] = [];
    const watch = client.watch({ service: '' });
    watch.on('data', (response: HealthCheckResponse) => seen.push(response.status));
    watch.on('error', () => undefined);
    const ended = new Promise((resolveEnd) => watch.once('end', resolveEnd));
    try {
      await waitFor('SERVING on the watch', () => seen.includes(Serving.SERVING));
      await running.stop();
      await ended;
      assert.deepEqual(seen, [Serving.SERVING, Serving.NOT_SERVING]);
      // A Watch that held the drain would have lasted the whole grace period, then been cut off.
      assert.ok(!running.logs.some((record) => record.msg === 'grace period over: cancelling the calls still running'), 'the open Watch held the drain');
    } finally {
      watch.cancel();
      client.close();
    }
  });

  it('should answer a Watch opened after the watches ended with one status and an end', async () => {
    const health = new ServingHealth({ '': ServingStatus.NOT_SERVING });
    const server = new Server();
    health.addToServer(server);
    const port = await listen(server, '127.0.0.1', 0);
    const client = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      health.endWatches();
      const watch = client.watch({ service: '' });
      const seen: Serving[] = [];
      watch.on('data', (response: HealthCheckResponse) => seen.push(response.status));
      await new Promise((resolveEnd, rejectEnd) => {
        watch.once('end', resolveEnd);
        watch.once('error', rejectEnd);
      });
      assert.deepEqual(seen, [Serving.NOT_SERVING]);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});

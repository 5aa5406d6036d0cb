import { credentials, Metadata } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FraudClient } from '../../client/fraudClient.js';
import { HealthCheckResponse_ServingStatus as Serving, HealthClient, type HealthCheckResponse } from '../../src/gen/grpc/health/v1/health.js';
import { bundled } from '../helpers/paths.js';
import { runStartup, spawnService } from '../helpers/spawnService.js';
import { transaction } from '../helpers/testService.js';

describe('service start-up', () => {
  let folder: string;
  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'fraud-startup-'));
  });
  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  for (const variable of ['FRAUD_BINARY_MODEL_URI', 'FRAUD_SCENARIO_MODEL_URI']) {
    it(`should exit 2 at start with one line naming ${variable} and the path when its local manifest does not exist`, async () => {
      const path = join(folder, 'no-such-folder', 'model.json');
      const result = await runStartup({ [variable]: path });
      assert.equal(result.stderr, `configuration error: ${variable}: ${path} does not exist\n`);
      assert.equal(result.code, 2);
      assert.equal(result.stdout, '');
    });
  }

  it('should exit 2 at start naming the model file a local manifest names when that file does not exist', async () => {
    const manifest = join(folder, 'fraud-binary.json');
    await copyFile(bundled('fraud-binary'), manifest);
    const result = await runStartup({ FRAUD_BINARY_MODEL_URI: manifest });
    assert.equal(result.stderr, `configuration error: FRAUD_BINARY_MODEL_URI: ${join(folder, 'fraud-binary.onnx')} does not exist (named by ${manifest})\n`);
    assert.equal(result.code, 2);
  });

  it('should report SERVING only once every model is loaded: both answer when SERVING is first seen, and it is logged after both loads', async () => {
    const service = await spawnService();
    const health = new HealthClient(service.address, credentials.createInsecure());
    const client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
    try {
      // Waits for the port, then streams the status from NOT_SERVING on.
      const watch = health.watch({ service: '' }, new Metadata({ waitForReady: true }));
      watch.on('error', () => undefined);
      const seen: Serving[] = [];
      await new Promise<void>((resolveServing, rejectServing) => {
        watch.on('data', (response: HealthCheckResponse) => {
          seen.push(response.status);
          if (response.status === Serving.SERVING) resolveServing();
        });
        watch.once('end', () => {
          rejectServing(new Error(`the Watch ended before SERVING (seen ${seen.join(', ')})`));
        });
      });
      // At once, with a single attempt each: both tasks answer.
      const [binary, scenario] = await Promise.all([client.predict(transaction({ transactionId: 1 })), client.predictScenario(transaction({ transactionId: 2 }))]);
      assert.equal(binary.model?.name, 'fraud-binary');
      assert.equal(scenario.model?.name, 'fraud-scenario');
      watch.cancel();
      await service.waitForLog('serving');
      const order = service.logs.map((record) => `${record.msg}${typeof record.task === 'string' ? ` ${record.task}` : ''}`);
      const servingAt = order.indexOf('serving');
      for (const task of ['binary', 'multiclass']) {
        const loadedAt = order.indexOf(`model loaded ${task}`);
        assert.ok(loadedAt !== -1 && loadedAt < servingAt, `"serving" logged before "model loaded" of ${task}: ${order.join(' | ')}`);
      }
    } finally {
      client.close();
      health.close();
      await service.kill();
    }
  });
});

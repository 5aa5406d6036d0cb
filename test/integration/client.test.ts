import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { FraudCallError, FraudClient } from '../../client/fraudClient.js';
import { freePort, spawnService } from '../helpers/spawnService.js';
import { startTestService, transaction } from '../helpers/testService.js';

describe('typed client', () => {
  it('should retry UNAVAILABLE with backoff until the service comes up', async () => {
    const port = await freePort();
    const client = new FraudClient({ address: `127.0.0.1:${port}`, retry: { attempts: 12, initialBackoffMs: 100, maxBackoffMs: 1_000 } });
    const started = Date.now();
    const answer = client.predict(transaction({ txAmount: 300 }));
    const service = await spawnService({ FRAUD_GRPC_PORT: String(port) });
    try {
      assert.equal((await answer).prediction, 'FRAUD');
      console.log(`      answered after ${Date.now() - started} ms of retries`);
    } finally {
      client.close();
      await service.kill();
    }
  });

  it('should give up after its attempts with the last UNAVAILABLE', async () => {
    const port = await freePort();
    const client = new FraudClient({ address: `127.0.0.1:${port}`, retry: { attempts: 2, initialBackoffMs: 10 } });
    try {
      await assert.rejects(client.predict(transaction()), (error: unknown) => error instanceof FraudCallError && error.code === status.UNAVAILABLE);
    } finally {
      client.close();
    }
  });

  it('should not retry an INVALID_ARGUMENT', async () => {
    const running = await startTestService();
    const client = new FraudClient({ address: running.address, retry: { attempts: 5 } });
    try {
      await assert.rejects(client.predict(transaction({ txAmount: Number.NaN })), (error: unknown) => error instanceof FraudCallError && error.code === status.INVALID_ARGUMENT);
      const failures = await fetch(`http://127.0.0.1:${running.service.metricsPort}/metrics`).then((response) => response.text());
      assert.match(failures, /fraud_grpc_requests_total\{method="fraud\.v1\.FraudService\/Predict",code="INVALID_ARGUMENT"\} 1\n/);
    } finally {
      client.close();
      await running.stop();
    }
  });

  it('should apply its deadline', async () => {
    const running = await startTestService();
    const client = new FraudClient({ address: running.address, deadlineMs: 1 });
    try {
      const batch = Array.from({ length: 10_000 }, (_, index) => transaction({ transactionId: index }));
      await assert.rejects(client.predictBatch(batch), (error: unknown) => error instanceof FraudCallError && error.code === status.DEADLINE_EXCEEDED);
    } finally {
      client.close();
      await running.stop();
    }
  });
});

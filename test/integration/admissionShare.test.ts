import assert from 'node:assert/strict';
import { FraudClient } from '../../client/fraudClient.js';
import { Outcome, PredictBatchRequest, ReportOutcomeBatchRequest, Transaction } from '../../src/gen/fraud/v1/fraud_service.js';
import { HealthCheckRequest } from '../../src/gen/grpc/health/v1/health.js';
import { sample, scrape } from '../helpers/scrape.js';
import { openSlowReader, type SlowReader } from '../helpers/slowReader.js';
import { startTestService, transaction, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const BATCH_SIZE = 10_000;
const PREDICT_BATCH = '/fraud.v1.FraudService/PredictBatch';
const BATCH = PredictBatchRequest.encode({
  explain: false,
  transactions: Array.from({ length: BATCH_SIZE }, (_, index) =>
    Transaction.fromPartial({ transactionId: BigInt(index), customerId: BigInt(index % 1000), terminalId: 1n, txAmount: index % 300, txTimeSeconds: 3600n, features: {} }),
  ),
}).finish();

async function metric(running: TestService, series: string): Promise<number> {
  return sample(await scrape(running.service.metricsPort), series) ?? 0;
}

/**
 * A client that reads its answers, making one attempt per call: `unary`
 * Predict calls, then `batches` PredictBatch calls of 1,000 transactions.
 * Resolves with how many of each were answered.
 */
async function answered(running: TestService, unary: number, batches: number): Promise<[number, number]> {
  const client = new FraudClient({ address: running.address, deadlineMs: 10_000, retry: { attempts: 1 } });
  const successes: [number, number] = [0, 0];
  const attempt = async (kind: 0 | 1, call: () => Promise<unknown>): Promise<void> => {
    try {
      await call();
      successes[kind]++;
    } catch {
      // Refused: counted by what is missing.
    }
  };
  try {
    for (let index = 0; index < unary; index++) await attempt(0, () => client.predict(transaction({ transactionId: 900_000 + index })));
    for (let index = 0; index < batches; index++) {
      await attempt(1, () => client.predictBatch(Array.from({ length: 1_000 }, (_, row) => transaction({ transactionId: 800_000 + index * 1_000 + row }))));
    }
  } finally {
    client.close();
  }
  return successes;
}

describe('admission control holds every connection to its share', function () {
  this.timeout(120_000);

  describe('with the default limits', () => {
    let running: TestService;
    let attack: SlowReader | undefined;

    beforeEach(async () => {
      running = await startTestService();
    });

    afterEach(async () => {
      attack?.close();
      await running.stop();
    });

    it('should keep serving a client that reads its answers while 6 connections try to hold the whole process with unread batches', async () => {
      attack = openSlowReader(running.address, PREDICT_BATCH, BATCH, 6, 6);
      // Batches leave 1,000 rows to unary calls: 5 of the 6 are taken.
      assert.deepEqual(await attack.settled, { unread: 5, refused: { '8': 1 }, reset: 0 });
      assert.equal(await metric(running, 'fraud_rows_in_flight'), 50_000);
      assert.deepEqual(await answered(running, 20, 5), [20, 5]);
    });

    it('should keep serving a client that reads its answers while 40 connections each try to hold 10 unread batches', async () => {
      attack = openSlowReader(running.address, PREDICT_BATCH, BATCH, 400, 40);
      const outcome = await attack.settled;
      assert.ok(outcome.unread * BATCH_SIZE <= 60_000, `${outcome.unread} unread`);
      assert.deepEqual(await answered(running, 20, 5), [20, 5]);
      // The attackers, 40 connections, cannot take room back from each other with batches past their share (1,500).
      assert.equal(await metric(running, 'fraud_unread_answers_reset_total{reason="fair_share"}'), 0);
    });

    it('should count outcome reports as rows, so unread ReportOutcomeBatch answers are bounded like scoring calls', async () => {
      const outcomes = ReportOutcomeBatchRequest.encode({
        outcomes: Array.from({ length: BATCH_SIZE }, (_, index) => ({ transactionId: BigInt(index), outcome: Outcome.OUTCOME_FRAUD, knownAt: undefined, knownAtSeconds: undefined })),
      }).finish();
      attack = openSlowReader(running.address, '/fraud.v1.FraudService/ReportOutcomeBatch', outcomes, 40, 4);
      const outcome = await attack.settled;
      // One 10,000-outcome batch per connection (its share), the rest refused with a retry hint.
      assert.equal(outcome.unread, 4, JSON.stringify(outcome));
      assert.equal(outcome.refused['8'], 36);
      assert.equal(await metric(running, 'fraud_rows_in_flight'), 40_000);
      attack.close();
      await waitFor('the rows given back', async () => (await metric(running, 'fraud_rows_in_flight')) === 0);
    });
  });

  it('should give a batch within its fair share room taken back from batches left unread by connections over theirs', async () => {
    // 61,000 rows: batches may hold 60,000 of them, all 6 unread ones.
    const running = await startTestService({ FRAUD_MAX_ROWS_IN_FLIGHT: '61000' });
    const attack = openSlowReader(running.address, PREDICT_BATCH, BATCH, 6, 6);
    const patient = new FraudClient({ address: running.address, deadlineMs: 10_000, retry: { attempts: 100, maxBackoffMs: 200 } });
    try {
      assert.equal((await attack.settled).unread, 6);
      // 2,000 rows do not fit, and are within this connection's share (61,000 / 7): given the room of the oldest
      // unread answer once it has waited a second (refused with a retry hint before that).
      const answer = await patient.predictBatch(Array.from({ length: 2_000 }, (_, row) => transaction({ transactionId: 700_000 + row })));
      assert.equal(answer.predictions.length, 2_000);
      assert.equal(await metric(running, 'fraud_unread_answers_reset_total{reason="fair_share"}'), 1);
      assert.equal(await metric(running, 'fraud_rows_in_flight'), 50_000);
    } finally {
      patient.close();
      attack.close();
      await running.stop();
    }
  });

  it('should reset answers left unread past FRAUD_UNREAD_ANSWER_SECONDS, give their rows back and count them', async () => {
    const running = await startTestService({ FRAUD_UNREAD_ANSWER_SECONDS: '0.2' });
    // Answers far larger than HTTP/2's initial flow-control window (64 KB), so they wait for a read.
    const attack = openSlowReader(running.address, PREDICT_BATCH, BATCH, 3, 3);
    try {
      assert.equal((await attack.settled).unread, 3);
      await waitFor('the unread answers reset', async () => (await metric(running, 'fraud_unread_answers_reset_total{reason="time_limit"}')) === 3);
      assert.equal(await metric(running, 'fraud_rows_in_flight'), 0);
      // Their clients saw RESOURCE_EXHAUSTED (RST_STREAM ENHANCE_YOUR_CALM), and so do the call metrics.
      await waitFor('the calls counted', async () => (await metric(running, 'fraud_grpc_requests_total{method="fraud.v1.FraudService/PredictBatch",code="RESOURCE_EXHAUSTED"}')) === 3);
      assert.equal(await metric(running, 'fraud_grpc_requests_total{method="fraud.v1.FraudService/PredictBatch",code="CANCELLED"}'), 0);
      // A client that reads is not cut off.
      const batch = await running.client.predictBatch(Array.from({ length: 1_000 }, (_, index) => transaction({ transactionId: index })));
      assert.equal(batch.predictions.length, 1_000);
    } finally {
      attack.close();
      await running.stop();
    }
  });

  it('should bound health Watch streams per connection and in all, refuse the rest with RESOURCE_EXHAUSTED, and forget those whose connection went', async () => {
    const running = await startTestService({ FRAUD_HEALTH_MAX_WATCHES: '12', FRAUD_HEALTH_MAX_WATCHES_PER_CONNECTION: '5' });
    const watch = HealthCheckRequest.encode({ service: '' }).finish();
    const first = openSlowReader(running.address, '/grpc.health.v1.Health/Watch', watch, 16, 2);
    let second: SlowReader | undefined;
    try {
      // 8 per connection asked: 5 each taken.
      const outcome = await first.settled;
      assert.deepEqual([outcome.unread, outcome.refused['8']], [10, 6]);
      assert.equal(await metric(running, 'fraud_health_watches'), 10);
      // Two more connections: 2 more fit in the process's 12.
      second = openSlowReader(running.address, '/grpc.health.v1.Health/Watch', watch, 6, 2);
      const more = await second.settled;
      assert.deepEqual([more.unread, more.refused['8']], [2, 4]);
      assert.equal(await metric(running, 'fraud_health_watches_refused_total{limit="connection"}'), 6);
      assert.equal(await metric(running, 'fraud_health_watches_refused_total{limit="process"}'), 4);
      // Connections closed without cancelling their streams: every watch is forgotten.
      first.close();
      second.close();
      await waitFor('every watch forgotten', async () => (await metric(running, 'fraud_health_watches')) === 0);
      const again = openSlowReader(running.address, '/grpc.health.v1.Health/Watch', watch, 5, 1);
      assert.equal((await again.settled).unread, 5);
      again.close();
    } finally {
      first.close();
      second?.close();
      await running.stop();
    }
  });
});

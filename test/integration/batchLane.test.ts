import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { PredictBatchRequest, Transaction } from '../../src/gen/fraud/v1/fraud_service.js';
import { RedisServer } from '../helpers/redis.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, transaction, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const ROWS = 1_000;

function batchOf(firstId: number): Uint8Array {
  return PredictBatchRequest.encode({
    explain: false,
    transactions: Array.from({ length: ROWS }, (_, index) =>
      Transaction.fromPartial({ transactionId: BigInt(firstId + index), customerId: BigInt(index), terminalId: 1n, txAmount: 10, txTimeSeconds: 3600n, features: {} }),
    ),
  }).finish();
}

describe('the batch lane over a real socket (Redis store, a real redis-server)', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let running: TestService;

  before(async () => {
    redis = await RedisServer.start();
    // One batch scored at a time; Redis answers as late as it likes, so a frozen Redis holds a batch in the lane.
    running = await startTestService({ FRAUD_STATE_STORE: 'redis', FRAUD_REDIS_URL: redis.url, FRAUD_REDIS_TIMEOUT_MS: '60000', FRAUD_MAX_BATCH_ROWS_SCORING: String(ROWS) });
  });

  after(async () => {
    redis.thaw();
    await running.stop();
    await redis.stop();
  });

  it('should hold a batch undecoded while another is scored, and never decode nor score it if its client goes away meanwhile', async () => {
    const metric = async (series: string): Promise<number> => sample(await scrape(running.service.metricsPort), series) ?? 0;
    redis.freeze();
    // The first batch takes the lane and waits on Redis.
    const first = running.client.predictBatch(Array.from({ length: ROWS }, (_, index) => transaction({ transactionId: index, customerId: 50_000 + index })));
    await waitFor('the first batch scored', async () => (await metric('fraud_batch_size_count{method="fraud.v1.FraudService/PredictBatch"}')) === 1);

    // The second is admitted, waits for its turn, and its client gives up.
    const session = connect(`http://${running.address}`);
    session.on('error', () => undefined);
    try {
      const request = batchOf(10_000);
      const frame = Buffer.alloc(5 + request.length);
      frame.writeUInt32BE(request.length, 1);
      frame.set(request, 5);
      const stream = session.request({ ':method': 'POST', ':path': '/fraud.v1.FraudService/PredictBatch', 'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', () => undefined);
      stream.end(frame);
      await waitFor('the second batch admitted', async () => (await metric('fraud_rows_in_flight')) === 2 * ROWS);
      const closed = new Promise((resolveClose) => stream.once('close', resolveClose));
      stream.close(0x8);
      await closed;
      await waitFor('the second batch ended', async () => (await metric('fraud_grpc_requests_total{method="fraud.v1.FraudService/PredictBatch",code="CANCELLED"}')) === 1);
    } finally {
      session.destroy();
    }
    // Not decoded while it waited: a decoded batch is counted in fraud_batch_size.
    assert.equal(await metric('fraud_batch_size_count{method="fraud.v1.FraudService/PredictBatch"}'), 1);

    redis.thaw();
    assert.equal((await first).predictions.length, ROWS);
    await waitFor('the rows given back', async () => (await metric('fraud_rows_in_flight')) === 0);
    // Its turn came after its client had gone: never decoded, never scored.
    assert.equal(await metric('fraud_batch_size_count{method="fraud.v1.FraudService/PredictBatch"}'), 1);
    const scored = [...(await scrape(running.service.metricsPort)).matchAll(/^fraud_predictions_total\{task="binary"[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    assert.equal(scored, ROWS);
  });
});

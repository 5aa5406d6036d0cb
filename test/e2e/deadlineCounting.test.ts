import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { PredictBatchRequest, Transaction } from '../../src/gen/fraud/v1/fraud_service.js';
import { sample, scrape } from '../helpers/scrape.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { waitFor } from '../helpers/waitFor.js';

const CALLS = 40;
const BUSY_CALLS = 20;
const BATCH = Buffer.from(
  PredictBatchRequest.encode({
    explain: false,
    transactions: Array.from({ length: 10_000 }, (_, index) =>
      Transaction.fromPartial({ transactionId: BigInt(index), customerId: BigInt(index % 500), terminalId: 1n, txAmount: index % 300, txTimeSeconds: 3600n, features: {} }),
    ),
  }).finish(),
);
const STATUS_NAMES = Object.fromEntries(Object.entries(status).filter(([, code]) => typeof code === 'number').map(([name, code]) => [code, name])) as Record<number, string>;

/** Every code's count of `method`'s calls in a scrape. */
function counts(text: string, method: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const match of text.matchAll(new RegExp(`^fraud_grpc_requests_total\\{method="${method}",code="([A-Z_]+)"\\} (\\d+)`, 'gm'))) {
    found.set(match[1] as string, Number(match[2]));
  }
  return found;
}

function difference(after: Map<string, number>, before: Map<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [code, value] of after) if (value - (before.get(code) ?? 0) > 0) delta[code] = value - (before.get(code) ?? 0);
  return delta;
}

describe('call metrics under client deadlines', function () {
  this.timeout(60_000);
  // In a process of its own, so the clients' timers are not held up by the service's work.
  let running: SpawnedService;

  before(async () => {
    running = await spawnService({ FRAUD_MAX_ROWS_IN_FLIGHT: '1000000', FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION: '1000000' });
    await running.waitForLog('serving');
  });

  after(async () => {
    await running.kill();
  });

  it('should count each of 40 calls with 20-200 ms deadlines (and 20 without) once, with the status its client got', async () => {
    const client = new Client(running.address, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
    try {
      // Connected first, so that every call reaches the service before its deadline can pass.
      await new Promise<void>((resolveReady, rejectReady) => {
        client.waitForReady(Date.now() + 10_000, (error) => {
          if (error) rejectReady(error);
          else resolveReady();
        });
      });
      const before = counts(await scrape(running.metricsPort), 'fraud.v1.FraudService/PredictBatch');
      const call = (deadline: number): Promise<string> =>
        new Promise<string>((resolveCall) => {
          client.makeUnaryRequest('/fraud.v1.FraudService/PredictBatch', (bytes: Buffer) => bytes, (bytes: Buffer) => bytes, BATCH, new Metadata(), { deadline }, (error: ServiceError | null) => {
            resolveCall(STATUS_NAMES[error?.code ?? status.OK] ?? 'UNKNOWN');
          });
        });
      // Calls without a deadline first, so the service is busy scoring when the others arrive and reads them late,
      // as it does under load: their clients' deadlines are then earlier than the ones it computes.
      const busy = Array.from({ length: BUSY_CALLS }, () => call(Date.now() + 60_000));
      const seen = await Promise.all([...busy, ...Array.from({ length: CALLS }, (_, index) => call(Date.now() + 20 + Math.round((index * 180) / (CALLS - 1))))]);
      const expected: Record<string, number> = {};
      for (const code of seen) expected[code] = (expected[code] ?? 0) + 1;
      const text = await waitFor('every call ended on the server', async () => {
        const scraped = await scrape(running.metricsPort);
        return sample(scraped, 'fraud_grpc_requests_in_flight') === 0 ? scraped : undefined;
      });
      const delta = difference(counts(text, 'fraud.v1.FraudService/PredictBatch'), before);
      console.log(`      client saw ${JSON.stringify(expected)}; counted ${JSON.stringify(delta)}`);
      assert.deepEqual(delta, expected);
    } finally {
      client.close();
    }
  });
});

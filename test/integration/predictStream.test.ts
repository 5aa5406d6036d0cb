import { credentials, Metadata, status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DecisionRecord } from '../../src/gen/fraud/v1/decision_record.js';
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { TransactionInput } from '../../client/fraudClient.js';
import { FraudServiceClient, ModelTask, PredictStreamRequest, Transaction, type PredictStreamResponse, type PredictStreamResult } from '../../src/gen/fraud/v1/fraud_service.js';
import { BadRequest, ErrorInfo } from '../../src/gen/google/rpc/error_details.js';
import type { Status } from '../../src/gen/google/rpc/status.js';
import { RedisServer } from '../helpers/redis.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const PREDICT_STREAM = '/fraud.v1.FraudService/PredictStream';

/** Cards with several transactions each, at shared terminals, in time order, some large enough to be fraud: history matters to every score. */
function historySequence(first: number, count: number): TransactionInput[] {
  return Array.from({ length: count }, (_, index) => ({
    transactionId: first + index,
    customerId: 700_000 + first + (index % 37),
    terminalId: 800_000 + first + (index % 11),
    txAmount: index % 9 === 0 ? 250 + index : 20 + ((index * 7.31) % 90),
    txTimeSeconds: 86_400 * 30 + index * 900,
  }));
}

/** Result `index` of an answer, which must be there. */
function resultOf(answer: PredictStreamResponse | undefined, index: number): PredictStreamResult {
  const result = answer?.results[index];
  assert.ok(result !== undefined, `result ${index} of request ${String(answer?.requestIndex)}`);
  return result;
}

function violationsOf(error: Status | undefined): string[] {
  return (error?.details ?? []).filter((detail) => detail.typeUrl.endsWith('google.rpc.BadRequest')).flatMap((detail) => BadRequest.decode(detail.value).fieldViolations.map((violation) => violation.field));
}

function reasonOf(error: Status | undefined): string | undefined {
  const info = error?.details.find((detail) => detail.typeUrl.endsWith('google.rpc.ErrorInfo'));
  return info === undefined ? undefined : ErrorInfo.decode(info.value).reason;
}

/** Writes every request on one PredictStream call at once, then reads every answer until the status. */
function streamAll(address: string, requests: readonly PredictStreamRequest[]): Promise<PredictStreamResponse[]> {
  const stub = new FraudServiceClient(address, credentials.createInsecure());
  const call = stub.predictStream(new Metadata());
  const answers: PredictStreamResponse[] = [];
  return new Promise((resolveAnswers, rejectAnswers) => {
    call.on('data', (answer: PredictStreamResponse) => answers.push(answer));
    call.on('error', (error) => {
      stub.close();
      rejectAnswers(error);
    });
    call.on('end', () => {
      stub.close();
      resolveAnswers(answers);
    });
    for (const request of requests) call.write(request);
    call.end();
  });
}

function frameOf(request: PredictStreamRequest): Buffer {
  const bytes = PredictStreamRequest.encode(request).finish();
  const frame = Buffer.alloc(5 + bytes.length);
  frame.writeUInt32BE(bytes.length, 1);
  frame.set(bytes, 5);
  return frame;
}

/** Requests of `perMessage` distinct transactions each (new cards), for the raw HTTP/2 clients below. */
function rawRequests(messages: number, perMessage: number, firstId: number): Buffer[] {
  return Array.from({ length: messages }, (_, message) =>
    frameOf({
      explain: false, task: ModelTask.MODEL_TASK_BINARY,
      transactions: Array.from({ length: perMessage }, (_, index) => {
        const id = firstId + message * perMessage + index;
        return Transaction.fromPartial({ transactionId: BigInt(id), customerId: BigInt(id), terminalId: 1n, txAmount: 12.5, txTimeSeconds: 3600n, features: {} });
      }),
    }),
  );
}

/** A PredictStream opened with a raw HTTP/2 client that sends `frames` and never reads a byte of the answers. */
function unreadStream(session: ClientHttp2Session, frames: readonly Buffer[], timeout?: string): ClientHttp2Stream {
  const headers = { ':method': 'POST', ':path': PREDICT_STREAM, 'content-type': 'application/grpc', te: 'trailers' };
  const stream = session.request(timeout === undefined ? headers : { ...headers, 'grpc-timeout': timeout });
  stream.on('error', () => undefined);
  stream.pause();
  for (const frame of frames) stream.write(frame);
  return stream;
}

/** A stream with a bad transaction, an empty request, a conflicting repeat and a late transaction, all on `streamed`. */
async function perItemErrors(streamed: TestService): Promise<void> {
    const customerId = 9_100_000n;
    const base = { customerId, terminalId: 9_200_000n, txAmount: 40, features: {} };
    const requests: PredictStreamRequest[] = [
      {
        explain: false, task: ModelTask.MODEL_TASK_BINARY,
        transactions: [
          Transaction.fromPartial({ ...base, transactionId: 1n, txTimeSeconds: 86_400n * 10n }),
          Transaction.fromPartial({ ...base, transactionId: 2n, txAmount: -1, txTimeSeconds: 86_400n * 10n }),
          Transaction.fromPartial({ ...base, transactionId: 3n, txTimeSeconds: 86_400n * 10n + 60n }),
        ],
      },
      { explain: false, task: ModelTask.MODEL_TASK_BINARY, transactions: [] },
      // A repeat of transaction 1 with another amount: not a retry.
      { explain: false, task: ModelTask.MODEL_TASK_BINARY, transactions: [Transaction.fromPartial({ ...base, transactionId: 1n, txAmount: 41, txTimeSeconds: 86_400n * 10n })] },
      // A valid transaction of another card, then one of this card two hours before its newest (the lateness is one hour).
      {
        explain: false, task: ModelTask.MODEL_TASK_BINARY,
        transactions: [
          Transaction.fromPartial({ ...base, customerId: customerId + 1n, transactionId: 4n, txTimeSeconds: 86_400n * 10n }),
          Transaction.fromPartial({ ...base, transactionId: 5n, txTimeSeconds: 86_400n * 10n - 7_200n }),
        ],
      },
      { explain: false, task: ModelTask.MODEL_TASK_BINARY, transactions: [Transaction.fromPartial({ ...base, transactionId: 6n, txTimeSeconds: 86_400n * 10n + 120n })] },
    ];
    const answers = await streamAll(streamed.address, requests);

    assert.deepEqual(
      answers.map((answer) => answer.requestIndex),
      [0n, 1n, 2n, 3n, 4n],
    );
    const [first, empty, repeat, mixed, last] = answers;
    assert.deepEqual(
      first?.results.map((result) => [result.transactionId, result.prediction !== undefined, result.error?.code]),
      [
        [1n, true, undefined],
        [2n, false, status.INVALID_ARGUMENT],
        [3n, true, undefined],
      ],
    );
    assert.deepEqual(violationsOf(resultOf(first, 1).error), ['transactions[1].tx_amount']);
    assert.ok(empty !== undefined);
    assert.equal(empty.results.length, 0);
    assert.equal(empty.error?.code, status.INVALID_ARGUMENT);
    assert.deepEqual(violationsOf(empty.error), ['transactions']);
    assert.equal(resultOf(repeat, 0).error?.code, status.ALREADY_EXISTS);
    assert.equal(reasonOf(resultOf(repeat, 0).error), 'TRANSACTION_ALREADY_RECORDED');
    assert.deepEqual(violationsOf(resultOf(repeat, 0).error), ['transactions[0].tx_amount']);
    assert.ok(resultOf(mixed, 0).prediction !== undefined, 'the valid transaction beside a late one is scored');
    assert.equal(resultOf(mixed, 1).error?.code, status.INVALID_ARGUMENT);
    assert.deepEqual(violationsOf(resultOf(mixed, 1).error), ['transactions[1].tx_time_seconds']);
    assert.ok(resultOf(last, 0).prediction !== undefined);

    // Only the scored transactions are in the history: a retry of 1 with its recorded fields is scored, and the card's windows hold 1, 3 and 6.
    const retry = await streamed.client.predict({ transactionId: 1, customerId, terminalId: 9_200_000, txAmount: 40, txTimeSeconds: 86_400 * 10 }, { explain: true });
    const again = await streamed.client.predict({ transactionId: 7, customerId, terminalId: 9_200_000, txAmount: 40, txTimeSeconds: 86_400 * 10 + 180 }, { explain: true });
    assert.equal(retry.transactionId, 1n);
    const windowCounts = Object.entries(again.features).filter(([name]) => name === 'CUSTOMER_ID_NB_TX_1DAY_WINDOW' || name === 'CUSTOMER_ID_NB_TX_7DAY_WINDOW');
    assert.deepEqual(windowCounts, [
        ['CUSTOMER_ID_NB_TX_1DAY_WINDOW', 4],
        ['CUSTOMER_ID_NB_TX_7DAY_WINDOW', 4],
      ], 'transactions 1, 3, 6 and 7 itself; not the refused 5 (the day before)');
}
describe('PredictStream over a real socket (embedded store)', function () {
  this.timeout(60_000);

  describe('answers', () => {
    let unary: TestService;
    let streamed: TestService;

    before(async () => {
      // Two services with empty histories: one scores with Predict, the other with PredictStream.
      const env = { FRAUD_STATE_LATENESS_SECONDS: '3600' };
      [unary, streamed] = await Promise.all([startTestService(env), startTestService(env)]);
    });

    after(async () => {
      await Promise.all([unary.stop(), streamed.stop()]);
    });

    it("should answer every transaction exactly as Predict does (bit-identical probabilities, the same history), in request order", async () => {
      const transactions = historySequence(1_000, 300);
      const expected: Awaited<ReturnType<TestService['client']['predict']>>[] = [];
      for (const transaction of transactions) expected.push(await unary.client.predict(transaction, { explain: true }));

      const answers = [];
      for await (const answer of streamed.client.predictStream(transactions, { perMessage: 3, explain: true })) answers.push(answer);

      assert.equal(answers.length, transactions.length);
      answers.forEach((answer, index) => {
        const want = expected[index];
        assert.equal(answer.error, undefined);
        assert.equal(answer.transactionId, BigInt(transactions[index]?.transactionId ?? -1));
        assert.deepEqual(answer.prediction?.probabilities, want?.probabilities, `transaction ${index}`);
        assert.equal(answer.prediction?.fraudProbability, want?.fraudProbability);
        assert.equal(answer.prediction?.classId, want?.classId);
        assert.deepEqual(answer.prediction?.features, want?.features, `features of transaction ${index}`);
        assert.equal(answer.threshold, want?.threshold);
      });
      assert.ok(expected.some((answer) => answer.classId === 1) && expected.some((answer) => answer.classId === 0), 'both classes occur');

      // The same history behind both: the next transaction of each card scores the same on either service.
      const next = historySequence(1_000, 340).slice(300);
      for (const transaction of next) {
        const [fromUnary, fromStream] = await Promise.all([unary.client.predict(transaction, { explain: true }), streamed.client.predict(transaction, { explain: true })]);
        assert.deepEqual(fromStream.features, fromUnary.features);
        assert.deepEqual(fromStream.probabilities, fromUnary.probabilities);
      }
    });

    it('should classify scenarios exactly as PredictScenario does when a request asks the multiclass model', async () => {
      const transactions = historySequence(50_000, 120);
      const expected: Awaited<ReturnType<TestService['client']['predictScenario']>>[] = [];
      for (const transaction of transactions) expected.push(await unary.client.predictScenario(transaction, { explain: true }));
      const answers = [];
      for await (const answer of streamed.client.predictStream(transactions, { perMessage: 4, explain: true, task: 'scenario' })) answers.push(answer);
      assert.equal(answers.length, transactions.length);
      answers.forEach((answer, index) => {
        const want = expected[index];
        assert.equal(answer.prediction, undefined);
        assert.equal(answer.scenario?.transactionId, want?.transactionId);
        assert.deepEqual(answer.scenario?.probabilities, want?.probabilities, `transaction ${index}`);
        assert.equal(answer.scenario?.prediction, want?.prediction);
        assert.deepEqual(answer.scenario?.features, want?.features);
        assert.deepEqual(answer.model, want?.model);
      });
      assert.ok(new Set(expected.map((answer) => answer.classId)).size > 1, 'several scenarios occur');
    });

    it('should answer a bad transaction with its own error, score the others and go on, and refuse a bad request alone', async () => {
      await perItemErrors(streamed);
    });
  });

  describe('answers with the Redis store (real redis-servers)', () => {
    const redis: RedisServer[] = [];
    const services: TestService[] = [];

    before(async () => {
      redis.push(await RedisServer.start(), await RedisServer.start());
      for (const server of redis) services.push(await startTestService({ FRAUD_STATE_STORE: 'redis', FRAUD_REDIS_URL: server.url, FRAUD_STATE_LATENESS_SECONDS: '3600' }));
    });

    after(async () => {
      await Promise.all(services.map((service) => service.stop()));
      await Promise.all(redis.map((server) => server.stop()));
    });

    it('should answer a bad transaction with its own error in Redis too, and record none of the refused ones', async () => {
      await perItemErrors(services[1] as TestService);
    });

    it('should answer every transaction exactly as Predict does with the same history in Redis', async () => {
      const [unary, streamed] = services as [TestService, TestService];
      const transactions = historySequence(90_000, 150);
      const expected: Awaited<ReturnType<TestService['client']['predict']>>[] = [];
      for (const transaction of transactions) expected.push(await unary.client.predict(transaction, { explain: true }));
      const answers = [];
      for await (const answer of streamed.client.predictStream(transactions, { perMessage: 3, explain: true })) answers.push(answer);
      assert.equal(answers.length, transactions.length);
      answers.forEach((answer, index) => {
        assert.deepEqual(answer.prediction?.probabilities, expected[index]?.probabilities, `transaction ${index}`);
        assert.deepEqual(answer.prediction?.features, expected[index]?.features, `features of transaction ${index}`);
      });
    });
  });

  describe('decision log', () => {
    let running: TestService | undefined;
    let dir: string;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'fraud-stream-decisions-'));
      running = await startTestService({ FRAUD_DECISION_LOG_DIR: dir, FRAUD_DECISION_LOG_INSTANCE: 'fraud-stream-0', FRAUD_DECISION_LOG_BATCH_RECORDS: '1' });
    });

    after(async () => {
      await running?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('should log a decision for every transaction the stream scored, and none for one it refused', async () => {
      const sent = [
        { transactionId: 8_000_001, customerId: 8_000_001, terminalId: 1, txAmount: 30, txTimeSeconds: 3600 },
        { transactionId: 8_000_002, customerId: 8_000_002, terminalId: 1, txAmount: -5, txTimeSeconds: 3600 },
        { transactionId: 8_000_003, customerId: 8_000_003, terminalId: 1, txAmount: 300, txTimeSeconds: 3600 },
      ];
      const service = running as TestService;
      const answers = [];
      for await (const answer of service.client.predictStream(sent, { perMessage: 2 })) answers.push(answer);
      assert.deepEqual(answers.map((answer) => answer.error === undefined), [true, false, true]);
      const metric = async (): Promise<number> => sample(await scrape(service.service.metricsPort), 'fraud_decision_log_records_total{sink="file"}') ?? 0;
      await waitFor('two records written', async () => (await metric()) === 2);
      // Stopped, so that every file is finished.
      running = undefined;
      await service.stop();
      const records = [];
      for (const name of (await readdir(dir)).sort()) {
        const text = gunzipSync(await readFile(join(dir, name))).toString('utf8');
        records.push(...text.split('\n').filter((line) => line !== '').map((line) => DecisionRecord.fromJSON(JSON.parse(line))));
      }
      assert.deepEqual(records.map((record) => [Number(record.transactionId), record.method]), [
        [8_000_001, 'fraud.v1.FraudService/PredictStream'],
        [8_000_003, 'fraud.v1.FraudService/PredictStream'],
      ]);
    });
  });

  describe('bounds', () => {
    let running: TestService;
    const metric = async (series: string): Promise<number> => sample(await scrape(running.service.metricsPort), series) ?? 0;

    before(async () => {
      running = await startTestService({ FRAUD_UNREAD_ANSWER_SECONDS: '1', FRAUD_MAX_ROWS_IN_FLIGHT_PER_STREAM: '200' });
    });

    after(async () => {
      await running.stop();
    });

    it('should stop reading a stream whose client does not read, hold a bounded number of rows, and reset it after the unread-answer time limit', async () => {
      const session = connect(`http://${running.address}`);
      session.on('error', () => undefined);
      try {
        // 20,000 transactions, twice what one connection may hold in flight: read them all and admission would refuse the stream.
        const stream = unreadStream(session, rawRequests(2_000, 10, 50_000_000));
        let most = 0;
        await waitFor(
          'the stream reset',
          async () => {
            most = Math.max(most, await metric('fraud_rows_in_flight'));
            return stream.closed;
          },
          30_000,
        );
        assert.equal(stream.rstCode, constants.NGHTTP2_ENHANCE_YOUR_CALM);
        assert.equal(await metric('fraud_admission_refused_total{limit="connection"}'), 0, 'the service stopped reading before the connection limit');
        assert.ok(most > 0, 'rows were held while the answers waited');
        assert.ok(most <= 200 + 17 * 10, `at most the stream's limit plus what grpc-js buffers, got ${most}`);
        assert.equal(await metric('fraud_unread_answers_reset_total{reason="time_limit"}'), 1);
        await waitFor('every row given back', async () => (await metric('fraud_rows_in_flight')) === 0);
      } finally {
        session.close();
      }
    });

  });

  describe('cancellation', () => {
    let running: TestService;
    const metric = async (series: string): Promise<number> => sample(await scrape(running.service.metricsPort), series) ?? 0;

    before(async () => {
      // Unread answers are never reset while the test runs: only the end of the call can give the rows back.
      running = await startTestService({ FRAUD_UNREAD_ANSWER_SECONDS: '600', FRAUD_MAX_ROWS_IN_FLIGHT_PER_STREAM: '200' });
    });

    after(async () => {
      await running.stop();
    });

    it('should end a stream at its deadline and give its rows back, its answers unread', async () => {
      const session = connect(`http://${running.address}`);
      session.on('error', () => undefined);
      try {
        // 2 s: the stream holds rows, its answers never read, when the deadline passes; only the deadline can end it here.
        const stream = unreadStream(session, rawRequests(100, 10, 70_000_000), '2S');
        await waitFor('rows in flight', async () => (await metric('fraud_rows_in_flight')) > 0);
        await waitFor('the stream ended', () => stream.closed);
        await waitFor('every row given back', async () => (await metric('fraud_rows_in_flight')) === 0);
      } finally {
        session.close();
      }
    });

    it('should give every row back when the client cancels mid-stream', async () => {
      const session = connect(`http://${running.address}`);
      session.on('error', () => undefined);
      try {
        const stream = unreadStream(session, rawRequests(100, 10, 60_000_000));
        await waitFor('rows in flight', async () => (await metric('fraud_rows_in_flight')) > 0);
        stream.close(constants.NGHTTP2_CANCEL);
        await waitFor('every row given back', async () => (await metric('fraud_rows_in_flight')) === 0);
        // The service still answers on the same connection.
        const answers = await streamAll(running.address, [{ explain: false, task: ModelTask.MODEL_TASK_BINARY, transactions: [Transaction.fromPartial({ transactionId: 1n, customerId: 1n, terminalId: 1n, txAmount: 5, txTimeSeconds: 3600n, features: {} })] }]);
        assert.equal(answers[0]?.results[0]?.prediction?.transactionId, 1n);
      } finally {
        session.close();
      }
    });
  });
});

/**
 * The history figures of `npm run bench` (issue 9):
 *
 *   unary ratios  Predict with online features (embedded store, a model over
 *                 the history features) against today's stateless Predict
 *                 (no store, a model over the transaction alone), c = 1, 16, 64,
 *                 the same distinct transactions on both sides
 *   replay        the simulator's 183 days through PredictBatch (10,000 per
 *                 call) and the fraud outcomes through ReportOutcomeBatch as
 *                 they become known, into the embedded store: transactions/s,
 *                 bytes per customer, terminal and remembered transaction
 */
import { execFile } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { Client, credentials, type ServiceError } from '@grpc/grpc-js';
import { readHistory } from '../client/transactionFile.js';
import {
  Outcome,
  PredictBatchRequest,
  PredictRequest,
  ReportOutcomeBatchRequest,
  Transaction,
  type TransactionOutcome,
} from '../src/gen/fraud/v1/fraud_service.js';
import { packageRoot } from '../src/packageRoot.js';
import { sample, scrape } from '../test/helpers/scrape.js';
import { TransactionStream } from './transactionStream.js';

const execFileAsync = promisify(execFile);

export interface HistoryService {
  readonly address: string;
  readonly metricsPort: number;
  readonly pid: number | undefined;
}

export interface UnaryRound {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** One file of `count` distinct Predict requests from the stream, for bench/loadgen.js. */
export function unaryRequests(stream: TransactionStream, count: number): string {
  return predictRequestFile(stream.take(count));
}

/** A file of one Predict request per transaction, each length-prefixed, as bench/loadgen.js reads them. */
export function predictRequestFile(transactions: Iterable<Transaction>): string {
  const chunks: Buffer[] = [];
  for (const transaction of transactions) {
    const bytes = Buffer.from(PredictRequest.encode({ transaction, explain: false }).finish());
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length);
    chunks.push(length, bytes);
  }
  const path = join(mkdtempSync(join(tmpdir(), 'fraud-bench-')), 'predict.requests');
  writeFileSync(path, Buffer.concat(chunks));
  return path;
}

/** Loads Predict with distinct transactions from `requestFile` (bench/loadgen.js, its own process). */
export async function unaryRound(address: string, requestFile: string, concurrency: number, calls: number): Promise<UnaryRound> {
  const { stdout } = await execFileAsync(
    process.execPath,
    [join(packageRoot, 'dist', 'bench', 'loadgen.js'), address, '/fraud.v1.FraudService/Predict', requestFile, String(concurrency), String(calls)],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const result = JSON.parse(stdout) as { rps: number; p50Ms: number; p99Ms: number };
  return { rps: result.rps, p50Ms: result.p50Ms, p99Ms: result.p99Ms };
}

export interface ReplayResult {
  readonly transactions: number;
  readonly outcomes: number;
  readonly seconds: number;
  readonly customers: number;
  readonly terminals: number;
  readonly remembered: number;
  readonly bytesPerCustomer: number;
  readonly bytesPerTerminal: number;
  readonly bytesPerTransaction: number;
  readonly rssMb: number;
}

/** A simulated history (the handbook's full size unless told otherwise), written by the training pipeline. */
export async function simulateHistory(seed: number, days = 183): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'fraud-bench-')), 'transactions.csv');
  await execFileAsync(join(packageRoot, 'training', 'run'), ['simulate', '--seed', String(seed), '--days', String(days), '--out', path], {
    maxBuffer: 16 * 1024 * 1024,
  });
  if (!existsSync(path)) throw new Error(`training/run simulate wrote no ${path}`);
  return path;
}

/**
 * Replays a simulated history into the service: PredictBatch calls of
 * `batchSize` in time order, one at a time (a customer's transactions must
 * arrive in order), and after each the fraud labels known by then (event time
 * + 7 days). Requests are encoded before the clock starts, so the figure is
 * the service's.
 */
export async function replay(service: HistoryService, csv: string, batchSize: number): Promise<ReplayResult> {
  const delayMs = 7 * 86_400_000;
  const calls: { readonly method: string; readonly bytes: Buffer; readonly count: number }[] = [];
  let batch: Transaction[] = [];
  let newest = Number.NEGATIVE_INFINITY;
  const pending: { id: bigint; knownAt: number }[] = [];
  let transactions = 0;
  let outcomes = 0;
  const flushOutcomes = (upTo: number): void => {
    const due: TransactionOutcome[] = [];
    while (pending.length > 0 && (pending[0] as { knownAt: number }).knownAt <= upTo) {
      const next = pending.shift() as { id: bigint; knownAt: number };
      due.push({ transactionId: next.id, outcome: Outcome.OUTCOME_FRAUD, knownAt: new Date(next.knownAt), knownAtSeconds: undefined });
    }
    for (let start = 0; start < due.length; start += batchSize) {
      const outcomesOfCall = due.slice(start, start + batchSize);
      calls.push({ method: '/fraud.v1.FraudService/ReportOutcomeBatch', bytes: Buffer.from(ReportOutcomeBatchRequest.encode({ outcomes: outcomesOfCall }).finish()), count: 0 });
      outcomes += outcomesOfCall.length;
    }
  };
  const flush = (): void => {
    if (batch.length === 0) return;
    calls.push({ method: '/fraud.v1.FraudService/PredictBatch', bytes: Buffer.from(PredictBatchRequest.encode({ transactions: batch, explain: false }).finish()), count: batch.length });
    transactions += batch.length;
    batch = [];
    flushOutcomes(newest);
  };
  for await (const row of readHistory(createReadStream(csv), 'csv')) {
    batch.push(Transaction.fromPartial({ ...row.transaction, transactionId: BigInt(row.transaction.transactionId), customerId: BigInt(row.transaction.customerId), terminalId: BigInt(row.transaction.terminalId), txTimeSeconds: row.transaction.txTimeSeconds === undefined ? undefined : BigInt(row.transaction.txTimeSeconds), txTimeDays: undefined }));
    newest = Math.max(newest, row.time);
    // The simulator's rows are in time order, so labels are due in the same order.
    if (row.fraud) pending.push({ id: BigInt(row.transaction.transactionId), knownAt: row.time + delayMs });
    if (batch.length >= batchSize) flush();
  }
  flush();
  flushOutcomes(Number.POSITIVE_INFINITY);

  const client = new Client(service.address, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  const identity = (bytes: Buffer): Buffer => bytes;
  const send = (method: string, bytes: Buffer): Promise<void> =>
    new Promise((resolveCall, rejectCall) => {
      client.makeUnaryRequest(method, identity, identity, bytes, { deadline: Date.now() + 120_000 }, (error: ServiceError | null) => {
        if (error) rejectCall(new Error(`${method}: ${error.message}`));
        else resolveCall();
      });
    });
  const started = performance.now();
  for (const call of calls) await send(call.method, call.bytes);
  const seconds = (performance.now() - started) / 1000;
  client.close();

  const text = await scrape(service.metricsPort);
  const value = (series: string): number => sample(text, series) ?? Number.NaN;
  const customers = value('fraud_state_entities{kind="customer"}');
  const terminals = value('fraud_state_entities{kind="terminal"}');
  const remembered = value('fraud_state_transactions');
  return {
    transactions,
    outcomes,
    seconds,
    customers,
    terminals,
    remembered,
    bytesPerCustomer: value('fraud_state_bytes{kind="customer"}') / customers,
    bytesPerTerminal: value('fraud_state_bytes{kind="terminal"}') / terminals,
    bytesPerTransaction: value('fraud_state_bytes{kind="transaction"}') / remembered,
    rssMb: value('process_resident_memory_bytes') / 1024 / 1024,
  };
}

export interface StartedService extends HistoryService {
  stop(): Promise<void>;
}

export type StartService = (env: Record<string, string>) => Promise<StartedService>;

export interface HistoryFigures {
  /** Requests/s with online features (the bundled model, embedded store) over today's stateless Predict, by concurrency. */
  readonly ratios: ReadonlyMap<number, number>;
  /** Requests/s of today's model with the embedded store recording its transactions over the same without a store: the cost of recording alone. */
  readonly recordingRatios: ReadonlyMap<number, number>;
  readonly rows: readonly { name: string; rps: number; p50Ms: number; p99Ms: number }[];
  readonly replay: ReplayResult | undefined;
  readonly replaySkipped: string | undefined;
}

/**
 * The models compared: today's stateless Predict (the models shipped before
 * history features, no store) and Predict with online features (the bundled
 * models, the embedded store).
 */
export const STATELESS_MODEL = join(packageRoot, 'bench', 'models', 'stateless-binary.json');
export const STATELESS_SCENARIO_MODEL = join(packageRoot, 'bench', 'models', 'stateless-scenario.json');
export const HISTORY_MODEL = join(packageRoot, 'models', 'fraud-binary.json');

export async function historyFigures(start: StartService, concurrencies: readonly number[], callsAt: (concurrency: number) => number, rounds: number): Promise<HistoryFigures> {
  const todays = { FRAUD_BINARY_MODEL_URI: STATELESS_MODEL, FRAUD_SCENARIO_MODEL_URI: STATELESS_SCENARIO_MODEL };
  const sides = [
    { name: 'Predict stateless (no store)', service: await start({ FRAUD_STATE_STORE: 'none', ...todays }) },
    { name: "Predict, today's model, recording (memory)", service: await start({ FRAUD_STATE_STORE: 'memory', ...todays }) },
    { name: 'Predict with history (memory)', service: await start({ FRAUD_STATE_STORE: 'memory', FRAUD_BINARY_MODEL_URI: HISTORY_MODEL }) },
  ] as const;
  const ratios = new Map<number, number>();
  const recordingRatios = new Map<number, number>();
  const rows: { name: string; rps: number; p50Ms: number; p99Ms: number }[] = [];
  // Every round sends transactions no side has seen: later ids and times.
  const stream = new TransactionStream(42);
  try {
    for (const concurrency of concurrencies) {
      const calls = callsAt(concurrency);
      const results: UnaryRound[][] = sides.map(() => []);
      for (let round = 0; round < rounds; round++) {
        const requests = unaryRequests(stream, calls + 1);
        for (const [index, side] of sides.entries()) results[index]?.push(await unaryRound(side.service.address, requests, concurrency, calls));
      }
      const [stateless, recording, history] = results.map(medianRound) as [UnaryRound, UnaryRound, UnaryRound];
      sides.forEach((side, index) => rows.push({ name: `${side.name}, c=${concurrency}`, ...[stateless, recording, history][index] as UnaryRound }));
      ratios.set(concurrency, history.rps / stateless.rps);
      recordingRatios.set(concurrency, recording.rps / stateless.rps);
    }
  } finally {
    for (const side of sides) await side.service.stop();
  }
  let result: ReplayResult | undefined;
  let skipped: string | undefined;
  try {
    const csv = await simulateHistory(11);
    const replayed = await start({ FRAUD_STATE_STORE: 'memory', FRAUD_BINARY_MODEL_URI: HISTORY_MODEL, FRAUD_MAX_BATCH_SIZE: '10000' });
    try {
      result = await replay(replayed, csv, 10_000);
    } finally {
      await replayed.stop();
    }
  } catch (error) {
    skipped = (error as Error).message;
  }
  return { ratios, recordingRatios, rows, replay: result, replaySkipped: skipped };
}

function medianRound(rounds: readonly UnaryRound[]): UnaryRound {
  const sorted = [...rounds].sort((x, y) => x.rps - y.rps);
  return sorted[Math.floor(sorted.length / 2)] as UnaryRound;
}

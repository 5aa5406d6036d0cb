/**
 * `npm run bench`: the figures of the performance targets, measured in one run
 * as ratios to ceilings measured the same way, because these machines are noisy.
 *
 *   transport ceiling  a no-op grpc-js server with the same messages, loaded by ghz
 *   model ceiling      onnxruntime session.run in-process, no gRPC
 *   Predict            the real service process with history (embedded store, the bundled
 *                      model), distinct transactions, concurrency 1, 16, 64 and 256, against
 *                      the no-op server with the same requests: requests/s and CPU per request
 *   PredictBatch       1,000 distinct transactions per call (bench/loadgen.ts), against the
 *                      model ceiling
 *   PredictStream      transactions per second and per CPU-second against unary Predict,
 *                      the same distinct transactions into fresh services (bench/streamBench.ts)
 *   peak RSS           of a fresh service process (default settings) under each of:
 *                      unary Predict at c=64; 10,000-transaction batches at c=16 (refused
 *                      calls retried after the service's hint); and the slow-reader attack,
 *                      400 streams of 10,000-transaction batches whose answers are never
 *                      read, while a well-behaved client keeps calling
 *   real time          unary Predict with a 200 ms deadline, one call at a time, while 0, 2
 *                      and 7 batch clients send 10,000-transaction batches back to back
 *                      (bench/realTime.ts): p50, p99 and the share of deadlines missed
 *   history            online features against stateless Predict, and a replay
 *                      of the simulator's 183 days (bench/historyBench.ts)
 *   embedded store     full at its default limits: RSS at rest, snapshot and restore,
 *                      Predict p99 while snapshots are written and under a flood of
 *                      one-off cards (bench/storeBench.ts)
 *   transaction ids    10,000-transaction batches past the transaction limit, ids
 *                      >= 2^53 against small ids (bench/transactionIdBench.ts)
 *   Redis              unary Predict at c=64 and 10,000-transaction batches, the Redis store
 *                      against the embedded one (bench/redisBench.ts)
 *   memory per entity  RSS grown per card and per terminal of the embedded store, and its
 *                      own estimate (bench/stateSizing.ts); Redis used_memory per card,
 *                      terminal and transaction of the Redis store (bench/redisSizing.ts)
 *   shadow             Predict with a shadow model and with the decision log's file sink
 *                      against without, c=1, 16 and 64, and the shadow's cost on the
 *                      answer path (bench/shadowBench.ts)
 *
 * It ends with the table of the performance targets (bench/benchTargets.ts):
 * each with its figure and met, missed or not measured (and why).
 *
 *   npm run bench -- stream [transactions]   the PredictStream figure alone
 *   npm run bench -- ceiling [calls]         model floor, Predict against the no-op server,
 *                                            PredictBatch, and their targets
 *   npm run bench -- memory                  memory per entity and its targets
 *   npm run bench -- redis [calls]           the Redis store against the embedded one, its memory per
 *                                            entity, and their targets
 *   npm run bench -- shadow [calls]          a shadow model and the decision log against plain Predict
 *
 * FRAUD_BENCH_SERVICE=<path to main.js> measures another build of the service
 * (to compare with an earlier commit).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { loadFeatureSpec } from '../src/features/featureSpec.js';
import { PredictBatchRequest, PredictBatchResponse } from '../src/gen/fraud/v1/fraud_service.js';
import { ModelLoader } from '../src/models/modelLoader.js';
import { FileModelSource } from '../src/models/fileModelSource.js';
import { SERVICE_NODE_FLAGS } from '../src/nodeFlags.js';
import { packageRoot } from '../src/packageRoot.js';
import { FraudClient } from '../client/fraudClient.js';
import { openSlowReader } from '../test/helpers/slowReader.js';
import { freePort } from '../test/helpers/spawnService.js';
import { ghz, waitForPort } from './ghz.js';
import { historyFigures, type StartService } from './historyBench.js';
import { REAL_TIME_DEADLINE_MS, realTimeUnderBatches, type RealTimeResult } from './realTime.js';
import { printStoreFigures, storeFigures } from './storeBench.js';
import { OVERHEAD_TARGET_CONCURRENCIES, UNARY_TARGET_CONCURRENCIES, type Measured, type OverheadFigure, type TargetFigures, type UnaryCeilingFigure } from './benchTargets.js';
import { printShadowFigures, shadowFigures } from './shadowBench.js';
import { printStreamFigures, streamFigures } from './streamBench.js';
import { HISTORY_MODEL, unaryRequests, unaryRound } from './historyBench.js';
import { distinctBatchesFile, medianBy, memoryFigure, printTargets, redisBytesFigure, redisTarget, streamTarget, withCpu, type CpuRound } from './targetFigures.js';
import { TransactionStream } from './transactionStream.js';
import { transactionIdFigures } from './transactionIdBench.js';

const execFileAsync = promisify(execFile);
const DESCRIPTOR = join(packageRoot, 'src', 'gen', 'fraud.binpb');
const TRANSACTION = { transaction_id: 1, customer_id: 42, terminal_id: 7, tx_amount: 250.0, tx_time_seconds: 3600, tx_time_days: 0 };
const CONCURRENCIES = [1, 16, 64] as const;
/** Predict against the no-op server: the history figures' concurrencies and the targets'. */
const CEILING_CONCURRENCIES = [1, ...UNARY_TARGET_CONCURRENCIES] as const;
const UNARY_CALLS: Record<number, number> = { 1: 4_000, 16: 25_000, 64: 35_000, 256: 35_000 };
const ROUNDS = 3;
/** Unary Predict into the Redis store against the embedded one (bench/redisBench.ts). */
const REDIS_CONCURRENCY = 64;
const REDIS_CALLS = 20_000;
const BATCH_SIZE = 1_000;
/** Distinct 1,000-transaction batches sent, one per call. */
const BATCH_CALLS = 600;
/** Distinct transactions per side of the PredictStream figure (bench/streamBench.ts). */
const STREAM_TRANSACTIONS = 30_000;
const SERVICE_SCRIPT = process.env.FRAUD_BENCH_SERVICE ?? join(packageRoot, 'dist', 'src', 'main.js');
const RSS_LIMIT_MB = 256;
const RSS_UNARY_CALLS = 40_000;
const BIG_BATCH = 10_000;
const BIG_BATCH_CONCURRENCY = 16;
const BIG_BATCH_CALLS = 400;
const SLOW_READER_STREAMS = 400;
const SLOW_READER_CONNECTIONS = 4;
const REAL_TIME_BATCH_CLIENTS = [0, 2, 7] as const;
const REAL_TIME_CALLS = 300;
/** Share of real-time calls that may miss their deadline while 7 batch clients run. */
const REAL_TIME_MISSED_TARGET = 0.01;

interface Row {
  readonly name: string;
  readonly rps: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly perSecond?: number;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const ceiling = await ceilingFigures(rows, (concurrency) => UNARY_CALLS[concurrency] ?? 10_000, BATCH_CALLS);
  const stream = await streamFigures(startBenchService, STREAM_TRANSACTIONS, ROUNDS);
  rows.push(...stream.rows);
  const memory = await peakRssUnderLoad(rows);
  const realTime = await realTimeFigures(rows);

  const sizing = await memoryFigure();

  const history = await historyFigures(startBenchService, CONCURRENCIES, (concurrency) => UNARY_CALLS[concurrency] ?? 10_000, ROUNDS);
  rows.push(...history.rows);
  const store = await storeFigures(startBenchService, 16, UNARY_CALLS[16] ?? 10_000, ROUNDS);
  rows.push(...store.rows);
  console.log('\nRedis against the embedded store (bench/redisBench.ts)');
  const redis = await redisTarget(REDIS_CONCURRENCY, REDIS_CALLS, ROUNDS);
  const redisBytesPerCard = await redisBytesFigure();
  const shadow = await shadowFigures(startBenchService, CONCURRENCIES, (concurrency) => UNARY_CALLS[concurrency] ?? 10_000, ROUNDS);
  rows.push(...shadow.rows);
  if (history.replay !== undefined) {
    const { replay } = history;
    rows.push({ name: `replay 183 days, PredictBatch 10k/call`, rps: replay.transactions / replay.seconds / 10_000, perSecond: replay.transactions / replay.seconds });
  }

  printTable(rows);
  const batchPerSecond = ceiling.batchPerSecond;
  printCeilingRatios(ceiling);
  console.log('\ntargets');
  verdict(`batch >= 1,000,000 predictions/s`, batchPerSecond >= 1_000_000, `${Math.round(batchPerSecond).toLocaleString('en-US')}/s`);
  printStreamFigures(stream);
  for (const { name, peakMb } of memory) verdict(`peak RSS ${name} <= ${RSS_LIMIT_MB} MB`, peakMb <= RSS_LIMIT_MB, `${peakMb.toFixed(0)} MB`);
  for (const result of realTime) {
    const figure = `${(result.missedShare * 100).toFixed(1)} % missed, p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms, ${result.failed} failed otherwise`;
    const target = `Predict with a ${REAL_TIME_DEADLINE_MS} ms deadline, ${result.batchClients} batch clients running: <= ${REAL_TIME_MISSED_TARGET * 100} % missed, none refused`;
    verdict(target, result.missedShare <= REAL_TIME_MISSED_TARGET && result.failed === 0, figure);
  }
  for (const concurrency of CONCURRENCIES) {
    const ratio = history.ratios.get(concurrency) ?? 0;
    const recording = history.recordingRatios.get(concurrency) ?? 0;
    verdict(
      `Predict with online features >= 90 % of stateless Predict, c=${concurrency}`,
      ratio >= 0.9,
      `${(ratio * 100).toFixed(1)} % (recording alone, today's model: ${(recording * 100).toFixed(1)} %)`,
    );
  }
  if (history.replay === undefined) {
    console.log(`  SKIPPED replay of the simulator's 183 days: ${history.replaySkipped ?? ''}`);
  } else {
    const { replay } = history;
    const rate = replay.transactions / replay.seconds;
    verdict(`replay of 183 days into the embedded store >= 100,000 transactions/s`, rate >= 100_000, `${Math.round(rate).toLocaleString('en-US')}/s (${replay.transactions.toLocaleString('en-US')} transactions, ${replay.outcomes.toLocaleString('en-US')} outcomes, ${replay.seconds.toFixed(1)} s)`);
    console.log(`\nstate after the replay: ${replay.customers} customers, ${replay.terminals} terminals, ${replay.remembered} remembered transactions; RSS ${replay.rssMb.toFixed(0)} MB`);
    console.log(`  bytes per customer ${replay.bytesPerCustomer.toFixed(0)}, per terminal ${replay.bytesPerTerminal.toFixed(0)}, per remembered transaction ${replay.bytesPerTransaction.toFixed(0)} (estimates of the store)`);
  }
  printStoreFigures(store);
  printShadowFigures(shadow);
  const ids = transactionIdFigures();
  verdict(
    `a 10,000-transaction batch past the transaction limit with ids >= 2^53 within 2x of small ids`,
    ids.bigIdsMs <= 2 * ids.smallIdsMs,
    `${ids.bigIdsMs.toFixed(0)} ms against ${ids.smallIdsMs.toFixed(0)} ms (embedded store, in-process)`,
  );
  printTargets({
    ...ceilingTargets(ceiling),
    streamOverUnary: streamTarget(stream),
    redis,
    redisBytesPerCard,
    embeddedMemory: sizing,
    shadowOverPlain: shadow.shadowOverPlain,
    decisionLogOverPlain: shadow.decisionLogOverPlain,
  });
}

interface CeilingFigures {
  readonly unary: ReadonlyMap<number, UnaryCeilingFigure>;
  readonly batchPerSecond: number;
  readonly floorRowsPerSecond: number;
}

/**
 * The model floor, then Predict with history against the no-op server (both
 * side by side, loaded in turn with the same distinct transactions, several
 * rounds, so a burst of noise hits both sides of each ratio alike), then
 * PredictBatch of distinct transactions into the same service. One stream of
 * transactions feeds every call, so ids never repeat and time moves forward.
 */
async function ceilingFigures(rows: Row[], callsAt: (concurrency: number) => number, batchCalls: number): Promise<CeilingFigures> {
  const model = await modelCeiling(rows);
  const noop = await startProcess([join(packageRoot, 'dist', 'bench', 'noopServer.js')], {});
  const service = await startProcess([SERVICE_SCRIPT], { FRAUD_LOG_LEVEL: 'warn', FRAUD_MAX_BATCH_SIZE: '10000', FRAUD_STATE_STORE: 'memory', FRAUD_BINARY_MODEL_URI: HISTORY_MODEL });
  const stream = new TransactionStream(23);
  const unary = new Map<number, UnaryCeilingFigure>();
  let batch: LoadgenResult;
  try {
    for (const concurrency of CEILING_CONCURRENCIES) {
      const calls = callsAt(concurrency);
      const noopRounds: CpuRound[] = [];
      const serviceRounds: CpuRound[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        // loadgen sends one request before its clock starts, hence calls + 1.
        const requests = unaryRequests(stream, calls + 1);
        noopRounds.push(await withCpu(noop.child.pid, calls + 1, () => unaryRound(noop.address, requests, concurrency, calls)));
        serviceRounds.push(await withCpu(service.child.pid, calls + 1, () => unaryRound(service.address, requests, concurrency, calls)));
      }
      const noopMedian = medianBy(noopRounds, (round) => round.rps);
      const serviceMedian = medianBy(serviceRounds, (round) => round.rps);
      const cpuRatio = medianBy(serviceRounds, (round) => round.cpuPerCall).cpuPerCall / medianBy(noopRounds, (round) => round.cpuPerCall).cpuPerCall;
      rows.push({ name: `no-op unary, distinct, c=${concurrency}`, rps: noopMedian.rps, p50Ms: noopMedian.p50Ms, p99Ms: noopMedian.p99Ms });
      rows.push({ name: `Predict with history, c=${concurrency}`, rps: serviceMedian.rps, p50Ms: serviceMedian.p50Ms, p99Ms: serviceMedian.p99Ms });
      unary.set(concurrency, { rpsRatio: serviceMedian.rps / noopMedian.rps, cpuPerRequestRatio: cpuRatio });
    }
    batch = await loadgen(service.address, distinctBatchesFile(stream, batchCalls + 1, BATCH_SIZE), 4, batchCalls, BATCH_SIZE);
    rows.push({ name: `PredictBatch ${BATCH_SIZE} distinct/call, c=4`, rps: batch.rps, p50Ms: batch.p50Ms, p99Ms: batch.p99Ms, perSecond: batch.rps * BATCH_SIZE });
  } finally {
    await noop.stop();
    await service.stop();
  }
  return { unary, batchPerSecond: batch.rps * BATCH_SIZE, floorRowsPerSecond: model.rowsPerSecond };
}

function printCeilingRatios(ceiling: CeilingFigures): void {
  console.log(`\nratios (medians of ${ROUNDS} alternating rounds, distinct transactions)`);
  for (const [concurrency, figure] of ceiling.unary) {
    console.log(`  Predict with history / no-op ceiling, c=${concurrency}: ${(figure.rpsRatio * 100).toFixed(1)} % of requests/s, ${figure.cpuPerRequestRatio.toFixed(2)}x CPU per request`);
  }
  console.log(`  PredictBatch predictions/s / in-process model rows/s: ${((ceiling.batchPerSecond / ceiling.floorRowsPerSecond) * 100).toFixed(1)} %`);
}

function ceilingTargets(ceiling: CeilingFigures): Pick<TargetFigures, 'batchOverFloor' | 'unaryOverCeiling'> {
  return { batchOverFloor: { predictionsPerSecond: ceiling.batchPerSecond, floorRowsPerSecond: ceiling.floorRowsPerSecond }, unaryOverCeiling: ceiling.unary };
}

/** The service process for the history and store figures. */
export const startBenchService: StartService = async (env) => {
  const started = await startProcess([SERVICE_SCRIPT], { FRAUD_LOG_LEVEL: 'warn', ...env });
  return { address: started.address, metricsPort: started.metricsPort, pid: started.child.pid, stop: () => started.stop() };
};

/**
 * Peak RSS (VmHWM) of a fresh service process with default settings under
 * each load, so each figure is that load's own peak.
 */
async function peakRssUnderLoad(rows: Row[]): Promise<{ name: string; peakMb: number }[]> {
  const results: { name: string; peakMb: number }[] = [];
  const measure = async (name: string, load: (address: string) => Promise<void>): Promise<void> => {
    const service = await startProcess([SERVICE_SCRIPT], { FRAUD_LOG_LEVEL: 'warn' });
    try {
      await load(service.address);
      results.push({ name, peakMb: peakRss(service.child) });
    } finally {
      await service.stop();
    }
  };
  await measure('under unary Predict, c=64', async (address) => {
    await ghz(address, DESCRIPTOR, 'fraud.v1.FraudService/Predict', { transaction: TRANSACTION }, 64, RSS_UNARY_CALLS);
  });
  const bigBatch = batchRequestFile(BIG_BATCH);
  await measure(`under ${BIG_BATCH.toLocaleString('en-US')}-transaction batches, c=${BIG_BATCH_CONCURRENCY}`, async (address) => {
    const result = await loadgen(address, bigBatch, BIG_BATCH_CONCURRENCY, BIG_BATCH_CALLS, BIG_BATCH);
    rows.push({
      name: `PredictBatch ${BIG_BATCH}/call, c=${BIG_BATCH_CONCURRENCY} (${result.refusals} refusals retried)`,
      rps: result.rps,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      perSecond: result.rps * BIG_BATCH,
    });
  });
  await measure(`under ${SLOW_READER_STREAMS} unread ${BIG_BATCH.toLocaleString('en-US')}-transaction streams`, async (address) => {
    const attack = openSlowReader(address, '/fraud.v1.FraudService/PredictBatch', readFileSync(bigBatch), SLOW_READER_STREAMS, SLOW_READER_CONNECTIONS);
    const client = new FraudClient({ address, deadlineMs: 10_000 });
    try {
      const outcome = await attack.settled;
      // The attack holds what it holds; other clients must still get answers.
      for (let index = 0; index < 200; index++) await client.predict({ transactionId: index, customerId: 42, terminalId: 7, txAmount: 250, txTimeSeconds: 3600 });
      const answer = await client.predictBatch(Array.from({ length: 1_000 }, (_, index) => ({ transactionId: index, customerId: 1, terminalId: 1, txAmount: 10, txTimeSeconds: 3600 })));
      if (answer.predictions.length !== 1_000) throw new Error('the well-behaved client got a short answer');
      console.log(`slow readers: ${outcome.unread} streams answered and left unread, refused ${JSON.stringify(outcome.refused)}, reset ${outcome.reset}; a well-behaved client still got every answer`);
    } finally {
      client.close();
      attack.close();
    }
  });
  return results;
}

/**
 * Real-time calls while bulk batches run, on a fresh service with default
 * settings (FRAUD_BENCH_SERVICE=<an earlier build> gives the figures before).
 */
async function realTimeFigures(rows: Row[]): Promise<RealTimeResult[]> {
  const results: RealTimeResult[] = [];
  const service = await startProcess([SERVICE_SCRIPT], { FRAUD_LOG_LEVEL: 'warn' });
  try {
    const batchFile = batchRequestFile(BIG_BATCH);
    for (const batchClients of REAL_TIME_BATCH_CLIENTS) {
      const started = performance.now();
      const result = await realTimeUnderBatches(service.address, service.metricsPort, batchFile, batchClients, REAL_TIME_CALLS);
      results.push(result);
      rows.push({
        name: `Predict, ${REAL_TIME_DEADLINE_MS} ms deadline, ${batchClients} batch clients`,
        rps: REAL_TIME_CALLS / ((performance.now() - started) / 1000),
        p50Ms: result.p50Ms,
        p99Ms: result.p99Ms,
      });
    }
  } finally {
    await service.stop();
  }
  return results;
}

/** An encoded PredictBatchRequest of `size` valid transactions, in a file for the load generator. */
function batchRequestFile(size: number): string {
  const transactions = Array.from({ length: size }, (_, index) => ({
    // Many cards and terminals, as traffic has (one card with thousands of transactions would measure the
    // history's cap, not the service); none of them is card 42 or card 1, which the unary loads use.
    transactionId: BigInt(index),
    customerId: BigInt(1_000 + (index % 5_000)),
    terminalId: BigInt(100_000 + (index % 10_000)),
    txAmount: (index * 7.3) % 400,
    txTimeSeconds: BigInt(3600 + index * 37),
    txTimeDays: undefined,
    txDatetime: undefined,
    features: {},
  }));
  const requestFile = join(mkdtempSync(join(tmpdir(), 'fraud-bench-')), `batch-${size}.bin`);
  writeFileSync(requestFile, PredictBatchRequest.encode({ transactions, explain: false }).finish());
  return requestFile;
}

interface LoadgenResult {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly refusals: number;
}

/** bench/loadgen.js in its own process; checks the first answer holds `size` predictions. */
async function loadgen(address: string, requestFile: string, concurrency: number, calls: number, size: number): Promise<LoadgenResult> {
  const { stdout } = await execFileAsync(
    process.execPath,
    [join(packageRoot, 'dist', 'bench', 'loadgen.js'), address, '/fraud.v1.FraudService/PredictBatch', requestFile, String(concurrency), String(calls)],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const result = JSON.parse(stdout) as LoadgenResult & { firstAnswer: string };
  const answer = PredictBatchResponse.decode(Buffer.from(result.firstAnswer, 'base64'));
  if (answer.predictions.length !== size) throw new Error(`PredictBatch answered ${answer.predictions.length} predictions for ${size}`);
  return result;
}

/** onnxruntime alone: single-row runs (what one unary call costs the model) and 1,000-row runs. */
async function modelCeiling(rows: Row[]): Promise<{ rowsPerSecond: number }> {
  const loader = new ModelLoader({ featureSpec: loadFeatureSpec(), intraOpThreads: 1 });
  const source = new FileModelSource(new URL(`file://${join(packageRoot, 'models', 'fraud-binary.json')}`));
  const model = await loader.load('binary', await source.fetch());
  model.acquire();
  const single = model.inputBuffer(1);
  single.set([250, 1, 1]);
  const runs = 20_000;
  let started = performance.now();
  for (let index = 0; index < runs; index++) await model.probabilities(single, 1);
  const singleRps = runs / ((performance.now() - started) / 1000);
  rows.push({ name: 'onnxruntime run, 1 row (in-process)', rps: singleRps });

  const many = model.inputBuffer(BATCH_SIZE);
  for (let row = 0; row < BATCH_SIZE; row++) many.set([(row * 7.3) % 400, row % 2, row % 3 === 0 ? 1 : 0], row * 3);
  const batchRuns = 2_000;
  started = performance.now();
  for (let index = 0; index < batchRuns; index++) await model.probabilities(many, BATCH_SIZE);
  const batchRps = batchRuns / ((performance.now() - started) / 1000);
  rows.push({ name: `onnxruntime run, ${BATCH_SIZE} rows (in-process)`, rps: batchRps, perSecond: batchRps * BATCH_SIZE });
  model.release();
  model.retire();
  return { rowsPerSecond: batchRps * BATCH_SIZE };
}

interface Started {
  readonly child: ChildProcess;
  readonly address: string;
  readonly metricsPort: number;
  stop(): Promise<void>;
}

async function startProcess(args: string[], env: Record<string, string>): Promise<Started> {
  const port = await freePort();
  const metricsPort = await freePort();
  // Both servers run with the service's heap flags, as the image starts it (an
  // earlier build given by FRAUD_BENCH_SERVICE runs as that build was started).
  const flags = process.env.FRAUD_BENCH_SERVICE === undefined ? SERVICE_NODE_FLAGS : [];
  const child = spawn(process.execPath, [...flags, ...args, String(port)], {
    env: { ...process.env, FRAUD_GRPC_HOST: '127.0.0.1', FRAUD_GRPC_PORT: String(port), FRAUD_METRICS_PORT: String(metricsPort), ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const address = `127.0.0.1:${port}`;
  await waitForPort(address, DESCRIPTOR);
  return {
    child,
    address,
    metricsPort,
    stop: () =>
      new Promise((resolveStop) => {
        child.once('exit', () => {
          resolveStop();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** Peak resident set size of a process so far (VmHWM), in MB. */
function peakRss(child: ChildProcess): number {
  const status = readFileSync(`/proc/${String(child.pid)}/status`, 'utf8');
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

function printTable(rows: readonly Row[]): void {
  console.log(`\n${'measurement'.padEnd(42)}${'calls/s'.padStart(12)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'predictions/s'.padStart(16)}`);
  for (const row of rows) {
    console.log(
      `${row.name.padEnd(42)}${Math.round(row.rps).toLocaleString('en-US').padStart(12)}` +
        `${(row.p50Ms?.toFixed(2) ?? '').padStart(9)}${(row.p99Ms?.toFixed(2) ?? '').padStart(9)}` +
        (row.perSecond === undefined ? '' : Math.round(row.perSecond).toLocaleString('en-US')).padStart(16),
    );
  }
}

function verdict(target: string, met: boolean, figure: string): void {
  console.log(`  ${met ? 'met   ' : 'MISSED'} ${target}: ${figure}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const notInPart: Measured<never> = { notMeasured: 'not in this part of the run' };
  const overheadNotInPart = new Map<number, Measured<OverheadFigure>>(OVERHEAD_TARGET_CONCURRENCIES.map((concurrency) => [concurrency, notInPart]));
  const overheadsNotInPart = { shadowOverPlain: overheadNotInPart, decisionLogOverPlain: overheadNotInPart };
  if (process.argv[2] === 'stream') {
    // `npm run bench -- stream [transactions]`: the PredictStream figure alone.
    printStreamFigures(await streamFigures(startBenchService, Number(process.argv[3] ?? STREAM_TRANSACTIONS), ROUNDS), true);
  } else if (process.argv[2] === 'ceiling') {
    // `npm run bench -- ceiling [calls]`: the model floor, Predict against the no-op server and PredictBatch, with `calls` per round.
    const rows: Row[] = [];
    const calls = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
    const ceiling = await ceilingFigures(rows, (concurrency) => calls ?? UNARY_CALLS[concurrency] ?? 10_000, calls === undefined ? BATCH_CALLS : Math.max(10, Math.round(calls / 50)));
    printTable(rows);
    printCeilingRatios(ceiling);
    printTargets({ ...ceilingTargets(ceiling), streamOverUnary: notInPart, redis: notInPart, redisBytesPerCard: notInPart, embeddedMemory: notInPart, ...overheadsNotInPart });
  } else if (process.argv[2] === 'memory') {
    // `npm run bench -- memory`: memory per entity of the embedded store.
    printTargets({ batchOverFloor: notInPart, streamOverUnary: notInPart, unaryOverCeiling: new Map(), redis: notInPart, redisBytesPerCard: notInPart, embeddedMemory: await memoryFigure(), ...overheadsNotInPart });
  } else if (process.argv[2] === 'redis') {
    // `npm run bench -- redis [calls]`: the Redis store against the embedded one.
    const redis = await redisTarget(REDIS_CONCURRENCY, Number(process.argv[3] ?? REDIS_CALLS), ROUNDS);
    printTargets({ batchOverFloor: notInPart, streamOverUnary: notInPart, unaryOverCeiling: new Map(), redis, redisBytesPerCard: await redisBytesFigure(), embeddedMemory: notInPart, ...overheadsNotInPart });
  } else if (process.argv[2] === 'shadow') {
    // `npm run bench -- shadow [calls]`: a shadow model and the decision log against plain Predict, with `calls` per round.
    const calls = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
    const shadow = await shadowFigures(startBenchService, CONCURRENCIES, (concurrency) => calls ?? UNARY_CALLS[concurrency] ?? 10_000, ROUNDS);
    printTable(shadow.rows);
    printShadowFigures(shadow);
    printTargets({
      batchOverFloor: notInPart,
      streamOverUnary: notInPart,
      unaryOverCeiling: new Map(),
      redis: notInPart,
      redisBytesPerCard: notInPart,
      embeddedMemory: notInPart,
      shadowOverPlain: shadow.shadowOverPlain,
      decisionLogOverPlain: shadow.decisionLogOverPlain,
    });
  } else {
    await main();
  }
}

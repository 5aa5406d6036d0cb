/**
 * The embedded store's figures of `npm run bench` (docs/history.md, "The
 * embedded store: floods, snapshots and sizing"), on a store filled to the
 * default limits (100,000 cards plus terminals, 500,000 remembered
 * transactions) through PredictBatch:
 *
 *   at rest      RSS of the full store, restore time and size of its snapshot
 *   flood        unary Predict of one-off cards (each new, so every call is over
 *                the entity limit and evicts) against Predict of known cards
 *   snapshots    unary Predict of known cards while snapshots are written back
 *                to back, against the same service between snapshots: p99 ratio
 *
 * `node dist/bench/storeBench.js` runs these alone.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { PredictBatchRequest, type Transaction } from '../src/gen/fraud/v1/fraud_service.js';
import { SERVICE_NODE_FLAGS } from '../src/nodeFlags.js';
import { packageRoot } from '../src/packageRoot.js';
import { freePort } from '../test/helpers/spawnService.js';
import { waitForPort } from './ghz.js';
import { sample, scrape } from '../test/helpers/scrape.js';
import { HISTORY_MODEL, predictRequestFile, unaryRequests, unaryRound, type StartService, type StartedService, type UnaryRound } from './historyBench.js';
import { TransactionStream } from './transactionStream.js';

const execFileAsync = promisify(execFile);
const CARDS = 80_000;
const TERMINALS = 20_000;
const REMEMBERED = 500_000;
const FILL_BATCH = 10_000;
/** Seconds of event time between fill transactions: 500,000 of them span 11.6 days. */
const STEP_SECONDS = 2;

export interface StoreFigures {
  readonly rows: readonly { name: string; rps: number; p50Ms: number; p99Ms: number }[];
  readonly restRssMb: number;
  readonly snapshotBytes: number;
  readonly snapshotSeconds: number;
  readonly restoreSeconds: number;
  /** SIGTERM to exit of a full store's service: the last snapshot, which must fit the grace period. */
  readonly shutdownSeconds: number;
  /** p99 of Predict while snapshots are written over p99 without. */
  readonly snapshotP99Ratio: number;
  /** p99 of Predict of one-off cards (every call evicts) over p99 of known cards, same full store. */
  readonly floodP99Ratio: number;
}

/** Fills a service to the default limits with the stream's transactions; returns the stream for more of the same traffic. */
async function fill(service: StartedService): Promise<TransactionStream> {
  const stream = new TransactionStream(7, CARDS, TERMINALS, STEP_SECONDS);
  const folder = mkdtempSync(join(tmpdir(), 'fraud-store-bench-'));
  for (let sent = 0; sent < REMEMBERED; sent += FILL_BATCH) {
    const file = join(folder, 'fill.bin');
    writeFileSync(file, PredictBatchRequest.encode({ transactions: stream.take(FILL_BATCH), explain: false }).finish());
    await execFileAsync(process.execPath, [join(packageRoot, 'dist', 'bench', 'loadgen.js'), service.address, '/fraud.v1.FraudService/PredictBatch', file, '1', '1'], { maxBuffer: 64 * 1024 * 1024 });
  }
  return stream;
}

/** A file of `count` Predict requests, each of a card and a terminal never seen, after `afterSeconds`. */
function oneOffRequests(count: number, afterSeconds: number, firstId: number): string {
  const transactions: Transaction[] = [];
  for (let index = 0; index < count; index++) {
    transactions.push({
      transactionId: BigInt(firstId + index),
      customerId: BigInt(firstId + index),
      terminalId: BigInt(firstId + index),
      txAmount: 42,
      txTimeSeconds: BigInt(afterSeconds + index),
      txTimeDays: undefined,
      txDatetime: undefined,
      features: {},
    });
  }
  return predictRequestFile(transactions);
}

function median(rounds: readonly UnaryRound[], by: (round: UnaryRound) => number): UnaryRound {
  const sorted = [...rounds].sort((one, other) => by(one) - by(other));
  return sorted[Math.floor(sorted.length / 2)] as UnaryRound;
}

export async function storeFigures(start: StartService, concurrency: number, calls: number, rounds: number): Promise<StoreFigures> {
  const rows: { name: string; rps: number; p50Ms: number; p99Ms: number }[] = [];
  const snapshotPath = join(mkdtempSync(join(tmpdir(), 'fraud-store-bench-')), 'state.snapshot');
  const env = { FRAUD_STATE_STORE: 'memory', FRAUD_BINARY_MODEL_URI: HISTORY_MODEL, FRAUD_STATE_SNAPSHOT_PATH: snapshotPath, FRAUD_STATE_SNAPSHOT_SECONDS: '0.1' };
  // Snapshots back to back (every 0.1 s, one at a time) on one service; none on the other.
  const writing = await start(env);
  const quiet = await start({ ...env, FRAUD_STATE_SNAPSHOT_PATH: join(snapshotPath, '..', 'quiet.snapshot'), FRAUD_STATE_SNAPSHOT_SECONDS: '86400' });
  let restRssMb: number;
  let snapshotSeconds: number;
  let shutdownSeconds: number;
  const known = { writing: [] as UnaryRound[], quiet: [] as UnaryRound[] };
  const flood: UnaryRound[] = [];
  try {
    await fill(writing);
    // Both are filled alike: the next requests of this stream are known cards to both.
    const stream = await fill(quiet);
    restRssMb = (sample(await scrape(quiet.metricsPort), 'process_resident_memory_bytes') ?? Number.NaN) / 1024 / 1024;
    const later = 86_400 + REMEMBERED * STEP_SECONDS;
    // Warm up both (the unary path's first calls after the fill compile code).
    const warmUp = unaryRequests(stream, 1_001);
    await unaryRound(writing.address, warmUp, concurrency, 1_000);
    await unaryRound(quiet.address, warmUp, concurrency, 1_000);
    for (let round = 0; round < rounds; round++) {
      const requests = unaryRequests(stream, calls + 1);
      known.writing.push(await unaryRound(writing.address, requests, concurrency, calls));
      known.quiet.push(await unaryRound(quiet.address, requests, concurrency, calls));
    }
    for (let round = 0; round < rounds; round++) {
      flood.push(await unaryRound(quiet.address, oneOffRequests(calls + 1, later + 86_400 + round * (calls + 1), 1_000_000_000 + round * (calls + 1)), concurrency, calls));
    }
    const text = await scrape(writing.metricsPort);
    snapshotSeconds = (sample(text, 'fraud_state_snapshot_duration_seconds_sum') ?? Number.NaN) / (sample(text, 'fraud_state_snapshot_duration_seconds_count') ?? Number.NaN);
  } finally {
    // SIGTERM to exit: the drain (no call runs) and the last snapshot of a full store.
    const stopping = performance.now();
    await writing.stop();
    shutdownSeconds = (performance.now() - stopping) / 1000;
    await quiet.stop();
  }
  const snapshotBytes = statSync(snapshotPath).size;
  const restoreStarted = performance.now();
  const restored = await start(env);
  const restoreSeconds = (performance.now() - restoreStarted) / 1000;
  await restored.stop();

  const byP99 = (round: UnaryRound): number => round.p99Ms;
  const [writingMedian, quietMedian, floodMedian] = [median(known.writing, byP99), median(known.quiet, byP99), median(flood, byP99)];
  rows.push({ name: `Predict, full store, c=${concurrency}`, ...quietMedian });
  rows.push({ name: `Predict, full store, snapshots, c=${concurrency}`, ...writingMedian });
  rows.push({ name: `Predict, full store, one-off flood, c=${concurrency}`, ...floodMedian });
  return {
    rows,
    restRssMb,
    snapshotBytes,
    snapshotSeconds,
    restoreSeconds,
    shutdownSeconds,
    snapshotP99Ratio: writingMedian.p99Ms / quietMedian.p99Ms,
    floodP99Ratio: floodMedian.p99Ms / quietMedian.p99Ms,
  };
}

/** Prints the figures and the target they meet or miss. */
export function printStoreFigures(figures: StoreFigures): void {
  console.log(`\nembedded store filled to the default limits: RSS at rest ${figures.restRssMb.toFixed(0)} MB; snapshot ${(figures.snapshotBytes / 1024 / 1024).toFixed(1)} MB written in ${figures.snapshotSeconds.toFixed(2)} s, restored in ${figures.restoreSeconds.toFixed(1)} s (process start included); SIGTERM to exit with the last snapshot ${figures.shutdownSeconds.toFixed(1)} s`);
  const met = figures.snapshotP99Ratio <= 2;
  console.log(`  ${met ? 'met   ' : 'MISSED'} Predict p99 while snapshots are written <= 2x p99 without: ${figures.snapshotP99Ratio.toFixed(2)}x`);
  console.log(`  flood of one-off cards (every call evicts): Predict p99 ${figures.floodP99Ratio.toFixed(2)}x that of known cards`);
}

/**
 * The service for a run of this file alone: FRAUD_BENCH_SERVICE=<path to main.js> measures another build
 * (to compare with an earlier commit), with the same Node flags.
 */
const startAlone: StartService = async (env) => {
  const port = await freePort();
  const metricsPort = await freePort();
  const script = process.env.FRAUD_BENCH_SERVICE ?? join(packageRoot, 'dist', 'src', 'main.js');
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, script], {
    env: { ...process.env, FRAUD_GRPC_HOST: '127.0.0.1', FRAUD_GRPC_PORT: String(port), FRAUD_METRICS_PORT: String(metricsPort), FRAUD_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const address = `127.0.0.1:${port}`;
  await waitForPort(address, join(packageRoot, 'src', 'gen', 'fraud.binpb'));
  return {
    address,
    metricsPort,
    pid: child.pid,
    stop: () =>
      new Promise<void>((resolveStop) => {
        child.once('exit', () => {
          resolveStop();
        });
        child.kill('SIGTERM');
      }),
  };
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const figures = await storeFigures(startAlone, Number(process.env.FRAUD_BENCH_CONCURRENCY ?? 16), Number(process.env.FRAUD_BENCH_CALLS ?? 10_000), Number(process.env.FRAUD_BENCH_ROUNDS ?? 3));
  for (const row of figures.rows) console.log(`${row.name.padEnd(48)}${Math.round(row.rps).toLocaleString('en-US').padStart(10)}${row.p50Ms.toFixed(2).padStart(9)}${row.p99Ms.toFixed(2).padStart(9)}`);
  printStoreFigures(figures);
}

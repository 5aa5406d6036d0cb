/**
 * The PredictStream figure of `npm run bench`: transactions per second and per
 * CPU-second of the service over PredictStream against unary Predict, the same
 * distinct transactions (new ids, many cards and terminals, time moving
 * forward) into a fresh service (embedded store) on each side, in alternating
 * rounds.
 *
 *   unary   bench/loadgen.js, Predict, one transaction per call, c=64
 *   stream  bench/streamLoadgen.js, 4 streams on one connection, 10
 *           transactions per request, at most 8 requests unanswered per stream
 *           (320 transactions in flight against unary's 64): the window at which
 *           a request's p99 is about a unary call's on a 2-core machine, so the
 *           ratio is at the same p99 (both p99s are printed beside it)
 *
 * Latency: per call (unary) and per request of 10 transactions (stream).
 *
 *   npm run bench -- stream [transactions]   runs this part alone.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ModelTask, PredictStreamRequest, PredictStreamResponse, type Transaction } from '../src/gen/fraud/v1/fraud_service.js';
import { packageRoot } from '../src/packageRoot.js';
import { predictRequestFile, unaryRound, type StartService } from './historyBench.js';
import { TransactionStream } from './transactionStream.js';

const execFileAsync = promisify(execFile);
const UNARY_CONCURRENCY = 64;
const STREAMS = 4;
const PER_REQUEST = 10;
const WINDOW = 8;
/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

export interface StreamSide {
  readonly transactionsPerSecond: number;
  readonly transactionsPerCpuSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface StreamFigures {
  readonly unary: StreamSide;
  readonly stream: StreamSide;
  /** stream / unary transactions per second (medians of the rounds). */
  readonly ratio: number;
  /** stream / unary transactions per CPU-second of the service. */
  readonly cpuRatio: number;
  readonly rows: readonly { name: string; rps: number; p50Ms: number; p99Ms: number; perSecond: number }[];
}

export async function streamFigures(startService: StartService, transactions: number, rounds: number): Promise<StreamFigures> {
  const list = new TransactionStream(19).take(transactions);
  const unaryFile = predictRequestFile(list);
  const streamFile = streamRequestFile(list);
  const unarySides: StreamSide[] = [];
  const streamSides: StreamSide[] = [];
  for (let round = 0; round < rounds; round++) {
    unarySides.push(
      await measured(startService, async (address) => {
        const result = await unaryRound(address, unaryFile, UNARY_CONCURRENCY, transactions);
        return { ...result, transactions };
      }),
    );
    streamSides.push(await measured(startService, async (address) => ({ ...(await streamRound(address, streamFile, transactions)), transactions })));
  }
  const unary = median(unarySides);
  const stream = median(streamSides);
  return {
    unary,
    stream,
    ratio: stream.transactionsPerSecond / unary.transactionsPerSecond,
    cpuRatio: stream.transactionsPerCpuSecond / unary.transactionsPerCpuSecond,
    rows: [
      { name: `Predict unary, distinct, c=${UNARY_CONCURRENCY}`, rps: unary.transactionsPerSecond, p50Ms: unary.p50Ms, p99Ms: unary.p99Ms, perSecond: unary.transactionsPerSecond },
      {
        name: `PredictStream ${STREAMS}x${PER_REQUEST}/req, window ${WINDOW}`,
        rps: stream.transactionsPerSecond / PER_REQUEST,
        p50Ms: stream.p50Ms,
        p99Ms: stream.p99Ms,
        perSecond: stream.transactionsPerSecond,
      },
    ],
  };
}

export function printStreamFigures(figures: StreamFigures, withRows = false): void {
  const { unary, stream } = figures;
  if (withRows) {
    for (const row of figures.rows) {
      console.log(
        `${row.name.padEnd(42)}${Math.round(row.rps).toLocaleString('en-US').padStart(12)}${row.p50Ms.toFixed(2).padStart(9)}` +
          `${row.p99Ms.toFixed(2).padStart(9)}${Math.round(row.perSecond).toLocaleString('en-US').padStart(16)}`,
      );
    }
  }
  const verdictText = figures.cpuRatio >= 3 ? 'met   ' : 'MISSED';
  console.log(
    `  ${verdictText} PredictStream >= 3x unary Predict transactions per core (distinct transactions, embedded store): ` +
      `${figures.cpuRatio.toFixed(2)}x per CPU-second (${Math.round(stream.transactionsPerCpuSecond)} vs ${Math.round(unary.transactionsPerCpuSecond)}), ` +
      `${figures.ratio.toFixed(2)}x per second; p99 ${stream.p99Ms.toFixed(1)} ms per 10-transaction request vs ${unary.p99Ms.toFixed(1)} ms per call`,
  );
}

/** A fresh service; `load` against it; the service's CPU time over the load. */
async function measured(startService: StartService, load: (address: string) => Promise<{ rps: number; p50Ms: number; p99Ms: number; transactions: number }>): Promise<StreamSide> {
  const service = await startService({});
  try {
    const before = cpuSeconds(service.pid);
    const started = process.hrtime.bigint();
    const result = await load(service.address);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = cpuSeconds(service.pid) - before;
    return {
      transactionsPerSecond: result.transactions / seconds,
      transactionsPerCpuSecond: result.transactions / Math.max(cpu, 0.01),
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
    };
  } finally {
    await service.stop();
  }
}

/** User + system CPU seconds of a process so far. */
export function cpuSeconds(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${String(pid)}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function median(sides: readonly StreamSide[]): StreamSide {
  const sorted = [...sides].sort((a, b) => a.transactionsPerSecond - b.transactionsPerSecond);
  return sorted[Math.floor(sorted.length / 2)] as StreamSide;
}

/** PredictStream requests of PER_REQUEST transactions each, length-prefixed, for bench/streamLoadgen.js. */
function streamRequestFile(transactions: readonly Transaction[]): string {
  const chunks: Buffer[] = [];
  for (let start = 0; start < transactions.length; start += PER_REQUEST) {
    const bytes = Buffer.from(PredictStreamRequest.encode({ transactions: transactions.slice(start, start + PER_REQUEST), explain: false, task: ModelTask.MODEL_TASK_BINARY }).finish());
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length);
    chunks.push(length, bytes);
  }
  const path = join(mkdtempSync(join(tmpdir(), 'fraud-bench-')), 'stream.requests');
  writeFileSync(path, Buffer.concat(chunks));
  return path;
}

async function streamRound(address: string, requestFile: string, transactions: number): Promise<{ rps: number; p50Ms: number; p99Ms: number }> {
  const { stdout } = await execFileAsync(process.execPath, [join(packageRoot, 'dist', 'bench', 'streamLoadgen.js'), address, requestFile, String(STREAMS), String(WINDOW)], {
    maxBuffer: 16 * 1024 * 1024,
  });
  const result = JSON.parse(stdout) as { rps: number; p50Ms: number; p99Ms: number; firstAnswer: string };
  const first = PredictStreamResponse.decode(Buffer.from(result.firstAnswer, 'base64'));
  if (first.results.length !== PER_REQUEST || first.results.some((item) => item.prediction === undefined)) {
    throw new Error(`PredictStream answered ${JSON.stringify(PredictStreamResponse.toJSON(first)).slice(0, 300)}`);
  }
  if (transactions % PER_REQUEST !== 0) throw new Error(`transactions must be a multiple of ${PER_REQUEST}`);
  return result;
}

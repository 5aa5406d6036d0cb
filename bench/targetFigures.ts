/**
 * The glue between the figures of `npm run bench` and its targets table
 * (bench/benchTargets.ts): CPU per request of a loaded process, distinct
 * batches, memory per entity, and the figures the run does not measure.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PredictBatchRequest } from '../src/gen/fraud/v1/fraud_service.js';
import { evaluateTargets, formatTargets, type TargetFigures } from './benchTargets.js';
import type { UnaryRound } from './historyBench.js';
import { redisFigures } from './redisBench.js';
import { redisSizingFigures } from './redisSizing.js';
import { stateSizingFigures } from './stateSizing.js';
import { cpuSeconds, type StreamFigures } from './streamBench.js';
import type { TransactionStream } from './transactionStream.js';


/** The Redis ratios (bench/redisBench.ts), or why there are none (redis-server missing, say). */
export async function redisTarget(concurrency: number, calls: number, rounds: number): Promise<TargetFigures['redis']> {
  try {
    return await redisFigures(concurrency, calls, rounds);
  } catch (error) {
    return { notMeasured: `bench/redisBench.ts failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}

export interface CpuRound extends UnaryRound {
  /** CPU seconds of the loaded process per call. */
  readonly cpuPerCall: number;
}

export async function withCpu(pid: number | undefined, calls: number, load: () => Promise<UnaryRound>): Promise<CpuRound> {
  const before = cpuSeconds(pid);
  const result = await load();
  return { ...result, cpuPerCall: (cpuSeconds(pid) - before) / calls };
}

export function medianBy<T>(rounds: readonly T[], by: (round: T) => number): T {
  const sorted = [...rounds].sort((a, b) => by(a) - by(b));
  return sorted[Math.floor(sorted.length / 2)] as T;
}

export function streamTarget(stream: StreamFigures): TargetFigures['streamOverUnary'] {
  return { cpuRatio: stream.cpuRatio, streamP99Ms: stream.stream.p99Ms, unaryP99Ms: stream.unary.p99Ms };
}

/** RSS grown per card and per terminal of the embedded store (bench/stateSizing.ts), and its estimate. */
export async function memoryFigure(): Promise<TargetFigures['embeddedMemory']> {
  let measured: Awaited<ReturnType<typeof stateSizingFigures>>;
  try {
    measured = await stateSizingFigures();
  } catch (error) {
    return { notMeasured: `bench/stateSizing.ts failed: ${error instanceof Error ? error.message : String(error)}` };
  }
  const figure = (kind: string, shape: string): string => {
    const found = measured.find((each) => each.kind === kind && each.shape === shape);
    return found === undefined ? '?' : `${found.rss.toFixed(0)} B by RSS (${found.estimate.toFixed(0)} B estimated)`;
  };
  const card = measured.find((each) => each.kind === 'card' && each.shape === 'busiest');
  const terminal = measured.find((each) => each.kind === 'terminal' && each.shape === 'busiest');
  if (card === undefined || terminal === undefined) return { notMeasured: 'bench/stateSizing.ts measured no card or terminal' };
  console.log(`\nmemory per entity of the embedded store: card ${figure('card', 'busiest')}, terminal ${figure('terminal', 'busiest')}, remembered transaction ${figure('transaction', 'busiest')}`);
  console.log(`  with three transactions on one day: card ${figure('card', 'light')}, terminal ${figure('terminal', 'light')}`);
  return { card: { rss: card.rss, estimate: card.estimate }, terminal: { rss: terminal.rss, estimate: terminal.estimate } };
}

/** Redis used_memory per card of the Redis store (bench/redisSizing.ts), printed with its terminal and transaction figures. */
export async function redisBytesFigure(): Promise<TargetFigures['redisBytesPerCard']> {
  let measured: Awaited<ReturnType<typeof redisSizingFigures>>;
  try {
    measured = await redisSizingFigures();
  } catch (error) {
    return { notMeasured: `bench/redisSizing.ts failed: ${error instanceof Error ? error.message : String(error)}` };
  }
  const bytes = (kind: string): string => measured.find((each) => each.kind === kind)?.bytes.toFixed(0) ?? '?';
  console.log(`
memory per entity of the Redis store (used_memory, the embedded figure's shapes): card ${bytes('card')} B, terminal ${bytes('terminal')} B, remembered transaction ${bytes('transaction')} B`);
  const card = measured.find((each) => each.kind === 'card');
  return card === undefined ? { notMeasured: 'bench/redisSizing.ts measured no card' } : card.bytes;
}

export function printTargets(figures: TargetFigures): void {
  console.log(`\nperformance targets (ratios in this run)\n${formatTargets(evaluateTargets(figures))}`);
}

/** `count` encoded PredictBatchRequests of `size` distinct transactions each, length-prefixed, for bench/loadgen.js. */
export function distinctBatchesFile(stream: TransactionStream, count: number, size: number): string {
  const chunks: Buffer[] = [];
  for (let index = 0; index < count; index++) {
    const bytes = Buffer.from(PredictBatchRequest.encode({ transactions: stream.take(size), explain: false }).finish());
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length);
    chunks.push(length, bytes);
  }
  const path = join(mkdtempSync(join(tmpdir(), 'fraud-bench-')), 'batches.requests');
  writeFileSync(path, Buffer.concat(chunks));
  return path;
}

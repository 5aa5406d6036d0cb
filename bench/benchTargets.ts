/**
 * The closing table of `npm run bench`: each performance target of the
 * service with its figure from the run and "met", "missed" or "not measured"
 * (with why). Pure, so the edges of each bound are checked by a unit test
 * (test/unit/benchTargets.test.ts); the figures come from bench/run.ts.
 */

/** A figure the run did not produce, and why. */
export interface NotMeasured {
  readonly notMeasured: string;
}

export type Measured<T> = T | NotMeasured;

export interface UnaryCeilingFigure {
  /** Requests/s of Predict with history (embedded store) over the no-op server's, distinct transactions. */
  readonly rpsRatio: number;
  /** Service CPU seconds per request over the no-op server's. */
  readonly cpuPerRequestRatio: number;
}

/** Predict with something added, over Predict without it, in the same run. */
export interface OverheadFigure {
  /** Requests/s with over requests/s without. */
  readonly rpsRatio: number;
  /** p99 latency with over p99 without. */
  readonly p99Ratio: number;
}

export interface TargetFigures {
  /** PredictBatch, 1,000 distinct transactions per call, embedded store, over the in-process onnxruntime rows/s of the same model. */
  readonly batchOverFloor: Measured<{ readonly predictionsPerSecond: number; readonly floorRowsPerSecond: number }>;
  /** PredictStream against unary Predict, transactions per CPU-second of the service, and both p99s. */
  readonly streamOverUnary: Measured<{ readonly cpuRatio: number; readonly streamP99Ms: number; readonly unaryP99Ms: number }>;
  /** By concurrency (16, 64 and 256 are targets). */
  readonly unaryOverCeiling: ReadonlyMap<number, Measured<UnaryCeilingFigure>>;
  /** Redis store over embedded store: time of a 10,000-transaction batch, unary requests/s; batches that failed. */
  readonly redis: Measured<{ readonly batchTimeRatio: number; readonly unaryRatio: number; readonly failedBatches: number }>;
  /** Redis used_memory per card. */
  readonly redisBytesPerCard: Measured<number>;
  /** Predict with a shadow model over Predict without one, by concurrency (1, 16 and 64 are targets). */
  readonly shadowOverPlain: ReadonlyMap<number, Measured<OverheadFigure>>;
  /** Predict with the decision log's file sink on over off, by concurrency (1, 16 and 64 are targets). */
  readonly decisionLogOverPlain: ReadonlyMap<number, Measured<OverheadFigure>>;
  /** The embedded store, by RSS grown per entity, and the store's own estimate (fraud_state_bytes) per entity. */
  readonly embeddedMemory: Measured<{
    readonly card: { readonly rss: number; readonly estimate: number };
    readonly terminal: { readonly rss: number; readonly estimate: number };
  }>;
}

export type Verdict = 'met' | 'missed' | 'not measured';

export interface TargetRow {
  readonly target: string;
  readonly figure: string;
  readonly verdict: Verdict;
}

export const UNARY_TARGET_CONCURRENCIES = [16, 64, 256] as const;
export const OVERHEAD_TARGET_CONCURRENCIES = [1, 16, 64] as const;
/** "Within 10 % of without": requests/s at least 90 %, p99 at most 110 %. */
const OVERHEAD_SHARE = 0.1;
const BATCH_FLOOR_SHARE = 0.5;
const STREAM_CPU_RATIO = 3;
const UNARY_RPS_SHARE = 0.85;
const UNARY_CPU_RATIO = 1.3;
const REDIS_BATCH_TIME_RATIO = 4;
const REDIS_UNARY_SHARE = 0.8;
const REDIS_BYTES_PER_CARD = 300;
const EMBEDDED_BYTES_PER_CARD = 300;
const EMBEDDED_BYTES_PER_TERMINAL = 200;
const ESTIMATE_TOLERANCE = 0.2;

function isNotMeasured<T>(figure: Measured<T>): figure is NotMeasured {
  return typeof figure === 'object' && figure !== null && 'notMeasured' in figure;
}

const percent = (share: number): string => `${(share * 100).toFixed(1)} %`;
const times = (ratio: number): string => `${ratio.toFixed(2)}x`;

/** One row per target, in the order of the targets. */
export function evaluateTargets(figures: TargetFigures): TargetRow[] {
  const rows: TargetRow[] = [];
  const row = <T>(target: string, figure: Measured<T>, evaluate: (measured: T) => { met: boolean; figure: string }): void => {
    if (isNotMeasured(figure)) {
      rows.push({ target, figure: figure.notMeasured, verdict: 'not measured' });
      return;
    }
    const result = evaluate(figure);
    rows.push({ target, figure: result.figure, verdict: result.met ? 'met' : 'missed' });
  };

  row(`PredictBatch, 1,000 distinct transactions/call, embedded store >= ${percent(BATCH_FLOOR_SHARE)} of the in-process onnxruntime floor`, figures.batchOverFloor, (batch) => {
    const share = batch.predictionsPerSecond / batch.floorRowsPerSecond;
    return { met: share >= BATCH_FLOOR_SHARE, figure: `${percent(share)} (${Math.round(batch.predictionsPerSecond).toLocaleString('en-US')}/s of ${Math.round(batch.floorRowsPerSecond).toLocaleString('en-US')} rows/s)` };
  });
  row(`PredictStream >= ${STREAM_CPU_RATIO}x unary Predict per core at the same p99`, figures.streamOverUnary, (stream) => ({
    met: stream.cpuRatio >= STREAM_CPU_RATIO,
    figure: `${times(stream.cpuRatio)} per CPU-second; p99 ${stream.streamP99Ms.toFixed(1)} ms per request vs ${stream.unaryP99Ms.toFixed(1)} ms per call`,
  }));
  for (const concurrency of UNARY_TARGET_CONCURRENCIES) {
    const figure: Measured<UnaryCeilingFigure> = figures.unaryOverCeiling.get(concurrency) ?? { notMeasured: `c=${concurrency} is not run` };
    row(`Predict with history >= ${percent(UNARY_RPS_SHARE)} of the no-op server's requests/s, c=${concurrency}`, figure, (unary) => ({
      met: unary.rpsRatio >= UNARY_RPS_SHARE,
      figure: percent(unary.rpsRatio),
    }));
    row(`Predict with history CPU per request <= ${UNARY_CPU_RATIO}x the no-op server's, c=${concurrency}`, figure, (unary) => ({
      met: unary.cpuPerRequestRatio <= UNARY_CPU_RATIO,
      figure: times(unary.cpuPerRequestRatio),
    }));
  }
  const overhead = (what: string, figures: ReadonlyMap<number, Measured<OverheadFigure>>): void => {
    for (const concurrency of OVERHEAD_TARGET_CONCURRENCIES) {
      const figure: Measured<OverheadFigure> = figures.get(concurrency) ?? { notMeasured: `c=${concurrency} is not run` };
      row(`Predict at c=${concurrency} ${what} within ${percent(OVERHEAD_SHARE)} of without (requests/s and p99)`, figure, (measured) => ({
        met: measured.rpsRatio >= 1 - OVERHEAD_SHARE && measured.p99Ratio <= 1 + OVERHEAD_SHARE,
        figure: `${percent(measured.rpsRatio)} of requests/s, p99 ${times(measured.p99Ratio)}`,
      }));
    }
  };
  overhead('with a shadow model', figures.shadowOverPlain);
  overhead('with the decision log (file sink)', figures.decisionLogOverPlain);
  row(`Redis: a 10,000-transaction batch in <= ${REDIS_BATCH_TIME_RATIO}x the embedded store's time, none failed`, figures.redis, (redis) => ({
    met: redis.batchTimeRatio <= REDIS_BATCH_TIME_RATIO && redis.failedBatches === 0,
    figure: `${times(redis.batchTimeRatio)}, ${redis.failedBatches} failed`,
  }));
  row(`Redis: unary Predict >= ${percent(REDIS_UNARY_SHARE)} of the embedded store's requests/s`, figures.redis, (redis) => ({
    met: redis.unaryRatio >= REDIS_UNARY_SHARE,
    figure: percent(redis.unaryRatio),
  }));
  row(`Redis: <= ${REDIS_BYTES_PER_CARD} B per card`, figures.redisBytesPerCard, (bytes) => ({ met: bytes <= REDIS_BYTES_PER_CARD, figure: `${bytes.toFixed(0)} B` }));
  row(`embedded store: <= ${EMBEDDED_BYTES_PER_CARD} B per card by RSS`, figures.embeddedMemory, (memory) => ({
    met: memory.card.rss <= EMBEDDED_BYTES_PER_CARD,
    figure: `${memory.card.rss.toFixed(0)} B`,
  }));
  row(`embedded store: <= ${EMBEDDED_BYTES_PER_TERMINAL} B per terminal by RSS`, figures.embeddedMemory, (memory) => ({
    met: memory.terminal.rss <= EMBEDDED_BYTES_PER_TERMINAL,
    figure: `${memory.terminal.rss.toFixed(0)} B`,
  }));
  for (const kind of ['card', 'terminal'] as const) {
    row(`embedded store: size metric within ${percent(ESTIMATE_TOLERANCE)} of RSS, per ${kind}`, figures.embeddedMemory, (memory) => {
      const { rss, estimate } = memory[kind];
      const ratio = estimate / rss;
      return { met: ratio >= 1 - ESTIMATE_TOLERANCE && ratio <= 1 + ESTIMATE_TOLERANCE, figure: `${estimate.toFixed(0)} B estimated vs ${rss.toFixed(0)} B by RSS (${times(ratio)})` };
    });
  }
  return rows;
}

/** The table, one line per target. */
export function formatTargets(rows: readonly TargetRow[]): string {
  const width = Math.max(...rows.map((each) => each.target.length));
  const lines = rows.map((each) => `  ${each.verdict.padEnd(13)}${each.target.padEnd(width + 2)}${each.figure}`);
  return [`  ${'verdict'.padEnd(13)}${'target'.padEnd(width + 2)}figure`, ...lines].join('\n');
}

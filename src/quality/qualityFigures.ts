import type { OutcomeKind } from '../state/stateStore.js';
import { SCORE_BIN_COUNT } from './scoreBins.js';

/**
 * What live quality counts for one model revision over some event days, and
 * the figures derived from it (GetModelQuality's ModelQuality). Counts are
 * of scores, one per transaction and revision, under the outcome in force.
 */
export interface QualityCounts {
  fraudAlerted: number;
  fraudPassed: number;
  legitimateAlerted: number;
  legitimatePassed: number;
  /** Frauds per score bin (scoreBins.ts). */
  readonly fraudBins: number[];
  /** Legitimate transactions per score bin. */
  readonly legitimateBins: number[];
  /** Sum of seconds from event time to the outcome's known_at, and how many outcomes it sums. */
  delaySeconds: number;
  delayCount: number;
}

export function emptyCounts(bins = SCORE_BIN_COUNT): QualityCounts {
  return {
    fraudAlerted: 0,
    fraudPassed: 0,
    legitimateAlerted: 0,
    legitimatePassed: 0,
    fraudBins: new Array<number>(bins).fill(0),
    legitimateBins: new Array<number>(bins).fill(0),
    delaySeconds: 0,
    delayCount: 0,
  };
}

/** The count field an outcome and a decision fall in. */
export type CountField = 'fraudAlerted' | 'fraudPassed' | 'legitimateAlerted' | 'legitimatePassed';

export function countField(outcome: OutcomeKind, alerted: boolean): CountField {
  if (outcome === 'fraud') return alerted ? 'fraudAlerted' : 'fraudPassed';
  return alerted ? 'legitimateAlerted' : 'legitimatePassed';
}

/** Adds `from` into `into` (days of a window summed). */
export function addCounts(into: QualityCounts, from: QualityCounts): void {
  into.fraudAlerted += from.fraudAlerted;
  into.fraudPassed += from.fraudPassed;
  into.legitimateAlerted += from.legitimateAlerted;
  into.legitimatePassed += from.legitimatePassed;
  for (let bin = 0; bin < into.fraudBins.length; bin++) {
    into.fraudBins[bin] = (into.fraudBins[bin] as number) + (from.fraudBins[bin] ?? 0);
    into.legitimateBins[bin] = (into.legitimateBins[bin] as number) + (from.legitimateBins[bin] ?? 0);
  }
  into.delaySeconds += from.delaySeconds;
  into.delayCount += from.delayCount;
}

/**
 * Area under the ROC curve from binned counts: the probability that a fraud
 * scores above a legitimate transaction, a fraud and a legitimate one in the
 * same bin counting half (their order within the bin is unknown). NaN
 * without both outcomes.
 */
export function binnedAuc(fraudBins: readonly number[], legitimateBins: readonly number[]): number {
  let frauds = 0;
  let legitimates = 0;
  let wins = 0;
  for (let bin = 0; bin < fraudBins.length; bin++) {
    const fraud = fraudBins[bin] ?? 0;
    const legitimate = legitimateBins[bin] ?? 0;
    // Legitimate ones below this bin lose to every fraud in it; those in it tie.
    wins += fraud * (legitimates + legitimate / 2);
    frauds += fraud;
    legitimates += legitimate;
  }
  return frauds > 0 && legitimates > 0 ? wins / (frauds * legitimates) : Number.NaN;
}

/**
 * Average precision from binned counts, step-wise from the highest bin
 * down: each fraud adds its share of the recall times the precision at its
 * rank (sklearn's average_precision_score). Within a bin the order is
 * unknown: its frauds are taken as spread evenly among its legitimate
 * transactions (the expected order), which halves the error of taking the
 * whole bin as one threshold on scores crowded in a few bins. NaN without a
 * fraud.
 */
export function binnedAveragePrecision(fraudBins: readonly number[], legitimateBins: readonly number[]): number {
  let frauds = 0;
  for (const fraud of fraudBins) frauds += fraud;
  if (frauds === 0) return Number.NaN;
  let truePositives = 0;
  let alerts = 0;
  let sum = 0;
  for (let bin = fraudBins.length - 1; bin >= 0; bin--) {
    const fraud = fraudBins[bin] ?? 0;
    const legitimate = legitimateBins[bin] ?? 0;
    if (fraud > 0) sum += precisionSum(truePositives, alerts, fraud, legitimate);
    truePositives += fraud;
    alerts += fraud + legitimate;
  }
  return sum / frauds;
}

/** The first terms of a bin's sum are added one by one; the rest in closed form (its error is then below 1e-5 of a fraud's share). */
const EXACT_TERMS = 64;

/**
 * The sum of the precision at each of a bin's `fraud` frauds, the j-th at
 * rank alerts + j·(fraud + legitimate)/fraud with truePositives + j frauds
 * above it: Σ (T + j) / (A + j·r) = (1/r)·(f + (T − A/r)·Σ 1/(A/r + j)).
 */
function precisionSum(truePositives: number, alerts: number, fraud: number, legitimate: number): number {
  const step = (fraud + legitimate) / fraud;
  const offset = alerts / step;
  let harmonic = 0;
  const exact = Math.min(fraud, EXACT_TERMS);
  for (let j = 1; j <= exact; j++) harmonic += 1 / (offset + j);
  // Σ_{j=K+1..f} 1/(offset + j) ≈ ln((offset + f + 1/2) / (offset + K + 1/2)): the midpoint rule, exact to 1/(24 (offset + K)²).
  if (fraud > exact) harmonic += Math.log((offset + fraud + 0.5) / (offset + exact + 0.5));
  return (fraud + (truePositives - offset) * harmonic) / step;
}

export interface QualityFigures {
  readonly auc: number;
  readonly averagePrecision: number;
  readonly recall: number;
  readonly precision: number;
  readonly alertRate: number;
  readonly fraudRate: number;
  readonly meanOutcomeDelaySeconds: number;
}

/** The figures of ModelQuality (fraud_service.proto), NaN where the proto says a figure is undefined. */
export function figuresOf(counts: QualityCounts): QualityFigures {
  const frauds = counts.fraudAlerted + counts.fraudPassed;
  const alerts = counts.fraudAlerted + counts.legitimateAlerted;
  const total = frauds + counts.legitimateAlerted + counts.legitimatePassed;
  return {
    auc: binnedAuc(counts.fraudBins, counts.legitimateBins),
    averagePrecision: binnedAveragePrecision(counts.fraudBins, counts.legitimateBins),
    recall: ratio(counts.fraudAlerted, frauds),
    precision: ratio(counts.fraudAlerted, alerts),
    alertRate: ratio(alerts, total),
    fraudRate: ratio(frauds, total),
    meanOutcomeDelaySeconds: ratio(counts.delaySeconds, counts.delayCount),
  };
}

function ratio(part: number, whole: number): number {
  return whole > 0 ? part / whole : Number.NaN;
}

import type { ModelQuality } from '../src/gen/fraud/v1/fraud_service.js';
import { binnedAuc } from '../src/quality/qualityFigures.js';
import { multinomialDraw, normalQuantile, quantile, seededUniform, type Uniform } from './resampling.js';

/**
 * Quality metrics of one model revision from its binned counts
 * (`ModelQuality`), each with a confidence interval, and the difference of a
 * challenger and a champion. Pure functions: the same counts and seed give
 * the same figures.
 *
 * - AUC and average precision: point estimates from the score bins (ties
 *   within a bin count half; AP step-wise from the highest bin down, as the
 *   service computes them), intervals by a stratified bootstrap: each
 *   outcome's bins are resampled multinomially with its own total fixed.
 * - Recall at the threshold and alert rate: Wilson score intervals.
 * - Differences: bootstrap metrics from independent resamples of the two
 *   models; proportions by Newcombe's hybrid score interval. Both treat the
 *   two models' counts as independent. They are not (both models scored the
 *   same transactions, so their errors are positively correlated), which
 *   makes the difference intervals wider than a paired analysis: conservative.
 */

/** The counts the metrics rest on, as plain numbers. */
export interface QualityCounts {
  readonly fraudBins: readonly number[];
  readonly legitimateBins: readonly number[];
  readonly fraudAlerted: number;
  readonly fraudPassed: number;
  readonly legitimateAlerted: number;
  readonly legitimatePassed: number;
}

export interface Estimate {
  readonly value: number;
  readonly low: number;
  readonly high: number;
}

export type MetricName = 'auc' | 'averagePrecision' | 'recall' | 'alertRate';
export const METRICS: readonly MetricName[] = ['auc', 'averagePrecision', 'recall', 'alertRate'];

export interface QualitySummary {
  readonly frauds: number;
  readonly transactions: number;
  readonly metrics: Readonly<Record<MetricName, Estimate>>;
}

export interface StatisticsOptions {
  /** Two-sided confidence level, in (0, 1); 0.95 by default. */
  readonly confidence?: number;
  /** Bootstrap resamples; 2000 by default. */
  readonly resamples?: number;
  /** Seed of the resampling; 1 by default. */
  readonly seed?: number;
}

const DEFAULTS: Required<StatisticsOptions> = { confidence: 0.95, resamples: 2_000, seed: 1 };

/** The counts of a ModelQuality message; refuses bins that do not match each other. */
export function countsOf(quality: ModelQuality): QualityCounts {
  if (quality.fraudScoreBins.length !== quality.legitimateScoreBins.length) {
    throw new Error(`revision ${quality.revision}: ${quality.fraudScoreBins.length} fraud score bins but ${quality.legitimateScoreBins.length} legitimate ones`);
  }
  return {
    fraudBins: quality.fraudScoreBins.map(Number),
    legitimateBins: quality.legitimateScoreBins.map(Number),
    fraudAlerted: Number(quality.fraudAlerted),
    fraudPassed: Number(quality.fraudPassed),
    legitimateAlerted: Number(quality.legitimateAlerted),
    legitimatePassed: Number(quality.legitimatePassed),
  };
}

const sum = (values: readonly number[]): number => values.reduce((total, value) => total + value, 0);

/** Area under the ROC curve from score bins (ties within a bin count half), as the service computes it; NaN without both outcomes. */
export { binnedAuc };

/** Average precision, step-wise over the bins from the highest down; NaN without a fraud. */
export function binnedAveragePrecision(fraudBins: readonly number[], legitimateBins: readonly number[]): number {
  const frauds = sum(fraudBins);
  if (frauds === 0) return Number.NaN;
  let truePositives = 0;
  let alerts = 0;
  let area = 0;
  for (let bin = fraudBins.length - 1; bin >= 0; bin--) {
    const fraudCount = fraudBins[bin] ?? 0;
    truePositives += fraudCount;
    alerts += fraudCount + (legitimateBins[bin] ?? 0);
    if (fraudCount > 0) area += (fraudCount / frauds) * (truePositives / alerts);
  }
  return area;
}

/** Wilson score interval of `successes` out of `trials`; NaN without a trial. */
export function wilsonInterval(successes: number, trials: number, confidence = DEFAULTS.confidence): Estimate {
  if (trials === 0) return { value: Number.NaN, low: Number.NaN, high: Number.NaN };
  const z = normalQuantile(1 - (1 - confidence) / 2);
  const p = successes / trials;
  const z2n = (z * z) / trials;
  const centre = (p + z2n / 2) / (1 + z2n);
  const halfWidth = (z * Math.sqrt((p * (1 - p)) / trials + z2n / (4 * trials))) / (1 + z2n);
  // Clamped: at 0 or n successes the formula's bound is the estimate itself, up to rounding.
  return { value: p, low: Math.max(0, Math.min(p, centre - halfWidth)), high: Math.min(1, Math.max(p, centre + halfWidth)) };
}

/** Newcombe's hybrid score interval of `second − first`, from their Wilson intervals (independent samples). */
export function newcombeDifference(first: Estimate, second: Estimate): Estimate {
  const value = second.value - first.value;
  return {
    value,
    low: value - Math.hypot(second.value - second.low, first.high - first.value),
    high: value + Math.hypot(second.high - second.value, first.value - first.low),
  };
}

type Replicates = Record<'auc' | 'averagePrecision', number[]>;

/** Bootstrap replicates of AUC and AP: each outcome's bins resampled with its total fixed. */
function replicates(counts: QualityCounts, resamples: number, uniform: Uniform): Replicates {
  const frauds = sum(counts.fraudBins);
  const legitimate = sum(counts.legitimateBins);
  const out = { auc: [] as number[], averagePrecision: [] as number[] };
  for (let draw = 0; draw < resamples; draw++) {
    const fraudBins = multinomialDraw(frauds, counts.fraudBins, uniform);
    const legitimateBins = multinomialDraw(legitimate, counts.legitimateBins, uniform);
    out.auc.push(binnedAuc(fraudBins, legitimateBins));
    out.averagePrecision.push(binnedAveragePrecision(fraudBins, legitimateBins));
  }
  return out;
}

function percentile(value: number, draws: readonly number[], confidence: number): Estimate {
  if (Number.isNaN(value)) return { value, low: Number.NaN, high: Number.NaN };
  const tail = (1 - confidence) / 2;
  return { value, low: quantile(draws, tail), high: quantile(draws, 1 - tail) };
}

function checkOptions(options: StatisticsOptions): Required<StatisticsOptions> {
  const settled = { ...DEFAULTS, ...options };
  if (!(settled.confidence > 0 && settled.confidence < 1)) throw new RangeError(`confidence must be between 0 and 1, got ${settled.confidence}`);
  if (!Number.isInteger(settled.resamples) || settled.resamples < 1) throw new RangeError(`resamples must be a positive integer, got ${settled.resamples}`);
  return settled;
}

function proportions(counts: QualityCounts, confidence: number): Record<'recall' | 'alertRate', Estimate> {
  const frauds = counts.fraudAlerted + counts.fraudPassed;
  const transactions = frauds + counts.legitimateAlerted + counts.legitimatePassed;
  return {
    recall: wilsonInterval(counts.fraudAlerted, frauds, confidence),
    alertRate: wilsonInterval(counts.fraudAlerted + counts.legitimateAlerted, transactions, confidence),
  };
}

function totals(counts: QualityCounts): { frauds: number; transactions: number } {
  const frauds = counts.fraudAlerted + counts.fraudPassed;
  return { frauds, transactions: frauds + counts.legitimateAlerted + counts.legitimatePassed };
}

function summaryOf(counts: QualityCounts, draws: Replicates, confidence: number): QualitySummary {
  return {
    ...totals(counts),
    metrics: {
      auc: percentile(binnedAuc(counts.fraudBins, counts.legitimateBins), draws.auc, confidence),
      averagePrecision: percentile(binnedAveragePrecision(counts.fraudBins, counts.legitimateBins), draws.averagePrecision, confidence),
      ...proportions(counts, confidence),
    },
  };
}

/** The four metrics of one revision with their intervals. */
export function summarize(counts: QualityCounts, options: StatisticsOptions = {}): QualitySummary {
  const { confidence, resamples, seed } = checkOptions(options);
  return summaryOf(counts, replicates(counts, resamples, seededUniform(seed)), confidence);
}

export interface QualityComparison {
  readonly champion: QualitySummary;
  readonly challenger: QualitySummary;
  /** Challenger − champion, per metric. */
  readonly difference: Readonly<Record<MetricName, Estimate>>;
}

/**
 * Champion and challenger summaries and the challenger − champion
 * difference of each metric (conservative intervals: see the module comment).
 */
export function compareQuality(champion: QualityCounts, challenger: QualityCounts, options: StatisticsOptions = {}): QualityComparison {
  const settled = checkOptions(options);
  const uniform = seededUniform(settled.seed);
  // One stream for both, champion's draws first: each model's replicates are independent of the other's.
  const championDraws = replicates(champion, settled.resamples, uniform);
  const challengerDraws = replicates(challenger, settled.resamples, uniform);
  const championSummary = summaryOf(champion, championDraws, settled.confidence);
  const challengerSummary = summaryOf(challenger, challengerDraws, settled.confidence);
  const bootstrapDifference = (metric: 'auc' | 'averagePrecision'): Estimate => {
    const value = challengerSummary.metrics[metric].value - championSummary.metrics[metric].value;
    const draws = challengerDraws[metric].map((draw, index) => draw - (championDraws[metric][index] as number));
    return percentile(value, draws, settled.confidence);
  };
  return {
    champion: championSummary,
    challenger: challengerSummary,
    difference: {
      auc: bootstrapDifference('auc'),
      averagePrecision: bootstrapDifference('averagePrecision'),
      recall: newcombeDifference(championSummary.metrics.recall, challengerSummary.metrics.recall),
      alertRate: newcombeDifference(championSummary.metrics.alertRate, challengerSummary.metrics.alertRate),
    },
  };
}

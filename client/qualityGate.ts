import type { Estimate, MetricName, QualityComparison } from './qualityStatistics.js';

/**
 * The promotion gate: conditions a challenger must meet against the champion
 * before `fraud-cli models promote` merges it. Each loss limit applies to the
 * lower bound of the challenger − champion interval, so a challenger passes
 * only when the data show it loses at most that much: with a limit of 0 it
 * must be shown at least as good, not merely look as good.
 */
export interface GateOptions {
  /** Frauds with a known outcome each model's figures must rest on, at least. */
  readonly minFrauds: number;
  /** Largest AUC loss allowed: the difference's lower bound must be >= −maxAucLoss. */
  readonly maxAucLoss: number;
  /** Largest average precision loss allowed, likewise. */
  readonly maxApLoss: number;
  /** When set, the recall difference's lower bound must be >= this (negative: a loss allowed). */
  readonly minRecallGain?: number;
}

export const DEFAULT_GATE: GateOptions = { minFrauds: 50, maxAucLoss: 0, maxApLoss: 0 };

export interface GateResult {
  readonly passed: boolean;
  /** One sentence per failed condition; empty when the gate passes. */
  readonly failures: readonly string[];
}

const LABELS: Readonly<Record<MetricName, string>> = { auc: 'AUC', averagePrecision: 'average precision', recall: 'recall', alertRate: 'alert rate' };

/** A figure as the CLI prints it: 4 decimals, "n/a" when undefined. */
export function figure(value: number): string {
  return Number.isNaN(value) ? 'n/a' : value.toFixed(4);
}

export function interval(estimate: Estimate): string {
  return `${figure(estimate.value)} [${figure(estimate.low)}, ${figure(estimate.high)}]`;
}

/** Checks every condition and names each one that fails. */
export function evaluateGate(comparison: QualityComparison, options: GateOptions): GateResult {
  const failures: string[] = [];
  for (const [role, summary] of [['champion', comparison.champion], ['challenger', comparison.challenger]] as const) {
    if (summary.frauds < options.minFrauds) failures.push(`only ${summary.frauds} frauds with a known outcome for the ${role}, need ${options.minFrauds} (--min-frauds)`);
  }
  const floor = (metric: MetricName, bound: number, option: string): void => {
    const difference = comparison.difference[metric];
    if (difference.low >= bound) return;
    const champion = comparison.champion.metrics[metric];
    const challenger = comparison.challenger.metrics[metric];
    failures.push(
      Number.isNaN(difference.low)
        ? `${LABELS[metric]} cannot be compared: challenger ${figure(challenger.value)}, champion ${figure(champion.value)} (${option})`
        : `challenger ${LABELS[metric]} ${interval(challenger)} vs champion ${figure(champion.value)}: difference lower bound ${figure(difference.low)} < ${figure(bound)} (${option})`,
    );
  };
  floor('auc', -options.maxAucLoss, '--max-auc-loss');
  floor('averagePrecision', -options.maxApLoss, '--max-ap-loss');
  if (options.minRecallGain !== undefined) floor('recall', options.minRecallGain, '--min-recall-gain');
  return { passed: failures.length === 0, failures };
}

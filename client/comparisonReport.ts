import { eventDay, type ComparedModel, type ModelComparison } from './modelComparison.js';
import { figure, interval } from './qualityGate.js';
import { METRICS, type Estimate, type MetricName, type QualitySummary } from './qualityStatistics.js';

/** `fraud-cli models compare` output: a table and a verdict for people, one JSON object for scripts. */

const ROWS: Readonly<Record<MetricName, string>> = {
  auc: 'AUC',
  averagePrecision: 'average precision',
  recall: 'recall at threshold',
  alertRate: 'alert rate',
};

function describeModel(model: ComparedModel): string {
  return `${model.name} ${model.version} (${model.revision})`;
}

function signed(estimate: Estimate): string {
  const sign = (value: number): string => (Number.isNaN(value) ? 'n/a' : `${value >= 0 ? '+' : ''}${figure(value)}`);
  return `${sign(estimate.value)} [${sign(estimate.low)}, ${sign(estimate.high)}]`;
}

function window(model: ComparedModel): string {
  return model.startTime === undefined ? 'no outcomes' : `${eventDay(model.startTime)} to ${eventDay(new Date((model.endTime?.getTime() ?? 0) - 1))}`;
}

/** The verdict line alone, e.g. for promote's refusal. */
export function verdict(comparison: ModelComparison): string {
  const failed = comparison.gate.failures.length;
  return comparison.gate.passed
    ? 'verdict: the challenger passes the gate; `fraud-cli models promote` would merge it'
    : `verdict: keep the champion; ${failed} gate condition${failed === 1 ? '' : 's'} failed`;
}

export function comparisonText(comparison: ModelComparison): string {
  const { request, quality } = comparison;
  const { confidence, resamples, seed } = request.statistics;
  const rows: string[][] = [
    ['metric', 'champion', 'challenger', 'difference (challenger - champion)'],
    ...METRICS.map((metric) => [ROWS[metric], interval(quality.champion.metrics[metric]), interval(quality.challenger.metrics[metric]), signed(quality.difference[metric])]),
    ['frauds/transactions', `${quality.champion.frauds}/${quality.champion.transactions}`, `${quality.challenger.frauds}/${quality.challenger.transactions}`, ''],
  ];
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  const table = rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd());
  const lines = [
    `${request.task} model, last ${request.windowDays} event days (UTC)`,
    `champion    ${describeModel(comparison.champion)}: ${window(comparison.champion)}`,
    `challenger  ${describeModel(comparison.challenger)}: ${window(comparison.challenger)}`,
    '',
    ...table,
    '',
    `${Math.round(confidence * 1000) / 10} % intervals: AUC and average precision by bootstrap (${resamples} resamples, seed ${seed}), ` +
      'recall and alert rate by Wilson; differences treat the two models as independent (conservative: wider than paired)',
    ...comparison.notes.map((note) => `note: ${note}`),
    `gate: ${comparison.gate.passed ? 'PASSED' : 'FAILED'} (min frauds ${request.gate.minFrauds}, max AUC loss ${request.gate.maxAucLoss}, max AP loss ${request.gate.maxApLoss}` +
      `${request.gate.minRecallGain === undefined ? '' : `, min recall gain ${request.gate.minRecallGain}`})`,
    ...comparison.gate.failures.map((failure) => `  - ${failure}`),
    verdict(comparison),
  ];
  return `${lines.join('\n')}\n`;
}

function summaryJson(model: ComparedModel, summary: QualitySummary): Record<string, unknown> {
  return {
    ...model,
    startTime: model.startTime?.toISOString() ?? null,
    endTime: model.endTime?.toISOString() ?? null,
    frauds: summary.frauds,
    transactions: summary.transactions,
    metrics: summary.metrics,
  };
}

/** The comparison as a JSON-ready object; undefined figures (NaN) become null. */
export function comparisonJson(comparison: ModelComparison): Record<string, unknown> {
  const { request, quality } = comparison;
  return {
    task: request.task,
    windowDays: request.windowDays,
    confidence: request.statistics.confidence,
    resamples: request.statistics.resamples,
    seed: request.statistics.seed,
    champion: summaryJson(comparison.champion, quality.champion),
    challenger: summaryJson(comparison.challenger, quality.challenger),
    difference: quality.difference,
    sameDays: comparison.sameDays,
    notes: comparison.notes,
    gate: { ...request.gate, passed: comparison.gate.passed, failures: comparison.gate.failures },
  };
}

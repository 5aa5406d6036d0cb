import type { Histogram, Registry } from 'prom-client';

/**
 * Upper bounds of fraud_prediction_score. Most transactions score near 0 and
 * the fraud rate is around 1 %, so a drift of the typical score shows only in
 * fine buckets at the low end (log-spaced down to 0.001); the threshold region
 * gets 0.1 steps (the share above the threshold can be read at 0.5 or any
 * tenth a model's threshold sits on); the confident fraud end mirrors the low
 * end up to 0.999. 21 bounds: 23 series per task and version.
 */
export const SCORE_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995, 0.999, 1,
] as const;

/** One line of the exposition, in the shape prom-client's registry formats. */
interface ScoreValue {
  readonly metricName: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

/** One task and version's counts: one slot per bound plus +Inf (never used: scores are clamped to [0, 1]). */
export class ScoreSeries {
  readonly buckets = new Float64Array(SCORE_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  constructor(
    readonly task: string,
    readonly version: string,
  ) {}

  /** Counts one score: a binary search over 21 bounds, no allocation. */
  observe(score: number): void {
    let low = 0;
    let high: number = SCORE_BUCKETS.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (score <= (SCORE_BUCKETS[middle] as number)) high = middle;
      else low = middle + 1;
    }
    this.buckets[low] = (this.buckets[low] as number) + 1;
    this.sum += score;
    this.count++;
  }
}

/**
 * fraud_prediction_score{task,version}: a Prometheus histogram of the fraud
 * probability of every scored transaction. prom-client's Histogram hashes the
 * label values on every observation (about 1 µs); a 10,000-transaction batch
 * would pay that 10,000 times. Here a call holds its series object and counts
 * into typed arrays (tens of ns per score), and the text is built at scrape.
 */
export class ScoreHistogram {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly series = new Map<string, ScoreSeries>();

  /** The serving models' by default; the shadows' have a name of their own (fraud_shadow_prediction_score). */
  constructor(
    registry: Registry,
    readonly name = 'fraud_prediction_score',
    readonly help = 'Fraud probability of each scored transaction (binary models: P(fraud class); scenario models: 1 - P(legitimate class)), by task and model version: a canary or a drift shows as a change of shape.',
  ) {
    // The registry asks only for name, help, type, aggregator and get(); prom-client's
    // types name its own classes, so this one is registered under the Histogram type.
    registry.registerMetric(this as unknown as Histogram);
  }

  /** The series of `task` and `version`, created at zero on first use. */
  labels(task: string, version: string): ScoreSeries {
    const key = `${task}\u0000${version}`;
    let series = this.series.get(key);
    if (series === undefined) {
      series = new ScoreSeries(task, version);
      this.series.set(key, series);
    }
    return series;
  }

  /** Drops the series of a version no longer serving. */
  remove(task: string, version: string): void {
    this.series.delete(`${task}\u0000${version}`);
  }

  reset(): void {
    this.series.clear();
  }

  get(): Promise<{ name: string; help: string; type: 'histogram'; values: ScoreValue[]; aggregator: 'sum' }> {
    const values: ScoreValue[] = [];
    for (const series of this.series.values()) {
      const { task, version } = series;
      let cumulative = 0;
      SCORE_BUCKETS.forEach((bound, index) => {
        cumulative += series.buckets[index] as number;
        values.push({ metricName: `${this.name}_bucket`, labels: { task, version, le: bound }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { task, version, le: '+Inf' }, value: series.count });
      values.push({ metricName: `${this.name}_sum`, labels: { task, version }, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: { task, version }, value: series.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }
}

import assert from 'node:assert/strict';
import {
  binnedAuc,
  binnedAveragePrecision,
  compareQuality,
  newcombeDifference,
  summarize,
  wilsonInterval,
  type QualityCounts,
} from '../../client/qualityStatistics.js';
import { binomialDraw, multinomialDraw, normalQuantile, quantile, seededUniform } from '../../client/resampling.js';

/** Counts whose decision counts follow the bins: bins at or above `alertFrom` are alerts. */
function counts(fraudBins: number[], legitimateBins: number[], alertFrom: number): QualityCounts {
  const split = (bins: number[]): [number, number] => [bins.slice(alertFrom).reduce((a, b) => a + b, 0), bins.slice(0, alertFrom).reduce((a, b) => a + b, 0)];
  const [fraudAlerted, fraudPassed] = split(fraudBins);
  const [legitimateAlerted, legitimatePassed] = split(legitimateBins);
  return { fraudBins, legitimateBins, fraudAlerted, fraudPassed, legitimateAlerted, legitimatePassed };
}

const close = (actual: number, expected: number, tolerance = 1e-4): void => {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${actual} is not ${expected} ± ${tolerance}`);
};

describe('quality statistics from binned counts', () => {
  it('AUC should be 1 for perfectly separated bins, 0 reversed, 0.5 for identical distributions', () => {
    assert.equal(binnedAuc([0, 0, 5], [5, 0, 0]), 1);
    assert.equal(binnedAuc([5, 0, 0], [0, 0, 5]), 0);
    assert.equal(binnedAuc([1, 2, 3], [2, 4, 6]), 0.5);
    // Everything in one bin: all ties, each counting half.
    assert.equal(binnedAuc([0, 7, 0], [0, 3, 0]), 0.5);
  });

  it('AUC should count ties within a bin as half (hand-checked: (2.5 + 3) / 6)', () => {
    close(binnedAuc([0, 1, 1], [2, 1, 0]), 5.5 / 6, 1e-12);
  });

  it('AUC and average precision should be NaN without the outcomes they need', () => {
    assert.ok(Number.isNaN(binnedAuc([0, 0], [3, 4])));
    assert.ok(Number.isNaN(binnedAuc([3, 4], [0, 0])));
    assert.ok(Number.isNaN(binnedAveragePrecision([0, 0], [3, 4])));
    assert.equal(binnedAveragePrecision([3, 4], [0, 0]), 1);
  });

  it('average precision should step down from the highest bin (hand-checked: 0.5·1 + 0.5·2/3)', () => {
    close(binnedAveragePrecision([0, 1, 1], [2, 1, 0]), 0.5 + 1 / 3, 1e-12);
    assert.equal(binnedAveragePrecision([0, 0, 5], [5, 0, 0]), 1);
    // One bin: precision is the fraud rate.
    close(binnedAveragePrecision([0, 2, 0], [0, 6, 0]), 0.25, 1e-12);
  });

  it('the normal quantile should match the tables', () => {
    close(normalQuantile(0.975), 1.959964, 1e-6);
    close(normalQuantile(0.5), 0, 1e-12);
    close(normalQuantile(0.005), -2.575829, 1e-6);
    close(normalQuantile(0.995), 2.575829, 1e-6);
  });

  it('the Wilson interval should match the known values (8/10: [0.4902, 0.9433]; 0/10: [0, 0.2775])', () => {
    const eight = wilsonInterval(8, 10);
    close(eight.value, 0.8, 1e-12);
    close(eight.low, 0.4902);
    close(eight.high, 0.9433);
    const none = wilsonInterval(0, 10);
    assert.equal(none.low, 0);
    close(none.high, 0.2775);
    const all = wilsonInterval(10, 10);
    assert.equal(all.high, 1);
    close(all.low, 0.7225);
    assert.ok(Number.isNaN(wilsonInterval(0, 0).value));
    // A narrower level, a narrower interval.
    const ninety = wilsonInterval(8, 10, 0.9);
    assert.ok(ninety.low > eight.low && ninety.high < eight.high);
  });

  it('Newcombe\'s difference should match his worked example (56/70 − 48/80 = 0.2000 [0.0524, 0.3339])', () => {
    const difference = newcombeDifference(wilsonInterval(48, 80), wilsonInterval(56, 70));
    close(difference.value, 0.2, 1e-12);
    close(difference.low, 0.0524);
    close(difference.high, 0.3339);
  });

  it('binomial and multinomial draws should keep totals and have the right mean', () => {
    const uniform = seededUniform(7);
    for (const [n, p] of [[1_000, 0.01], [50, 0.5], [100_000, 0.3], [20, 0.97]] as const) {
      const draws = Array.from({ length: 4_000 }, () => binomialDraw(n, p, uniform));
      assert.ok(draws.every((draw) => Number.isInteger(draw) && draw >= 0 && draw <= n));
      const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
      // Five standard errors of the mean.
      close(mean, n * p, 5 * Math.sqrt((n * p * (1 - p)) / draws.length));
    }
    const draw = multinomialDraw(1_000, [1, 0, 3, 6], uniform);
    assert.equal(draw.reduce((a, b) => a + b, 0), 1_000);
    assert.equal(draw[1], 0);
    assert.equal(quantile([3, 1, 2], 0.5), 2);
    assert.equal(quantile([1, 2], 0.25), 1.25);
  });

  const champion = counts([40, 30, 20, 10, 5, 5], [4_000, 2_500, 1_500, 800, 150, 50], 4);
  const challenger = counts([20, 20, 20, 20, 15, 15], [4_200, 2_600, 1_400, 700, 80, 20], 4);

  it('the bootstrap should be reproducible with a seed, and differ with another', () => {
    assert.deepEqual(summarize(champion, { seed: 3 }), summarize(champion, { seed: 3 }));
    assert.deepEqual(compareQuality(champion, challenger, { seed: 3 }), compareQuality(champion, challenger, { seed: 3 }));
    assert.notDeepEqual(summarize(champion, { seed: 3 }).metrics.auc, summarize(champion, { seed: 4 }).metrics.auc);
  });

  it('every interval should contain its point estimate, and the totals be those of the counts', () => {
    const summary = summarize(champion);
    assert.equal(summary.frauds, 110);
    assert.equal(summary.transactions, 9_110);
    for (const [name, estimate] of Object.entries(summary.metrics)) {
      assert.ok(estimate.low <= estimate.value && estimate.value <= estimate.high, `${name}: ${JSON.stringify(estimate)}`);
      assert.ok(estimate.low < estimate.high, `${name} has a zero-width interval`);
    }
    close(summary.metrics.recall.value, 10 / 110, 1e-12);
    close(summary.metrics.alertRate.value, 210 / 9_110, 1e-12);
    const comparison = compareQuality(champion, challenger);
    for (const [name, estimate] of Object.entries(comparison.difference)) {
      assert.ok(estimate.low <= estimate.value && estimate.value <= estimate.high, `difference of ${name}: ${JSON.stringify(estimate)}`);
    }
    close(comparison.difference.auc.value, comparison.challenger.metrics.auc.value - comparison.champion.metrics.auc.value, 1e-12);
    // The challenger separates better here: its AUC gain is clear of zero.
    assert.ok(comparison.difference.auc.low > 0, JSON.stringify(comparison.difference.auc));
  });

  it('the bootstrap AUC interval should be about as wide as Hanley and McNeil\'s normal interval', () => {
    const auc = summarize(champion).metrics.auc;
    const a = auc.value;
    const frauds = 110;
    const legitimate = 9_000;
    const q1 = a / (2 - a);
    const q2 = (2 * a * a) / (1 + a);
    const standardError = Math.sqrt((a * (1 - a) + (frauds - 1) * (q1 - a * a) + (legitimate - 1) * (q2 - a * a)) / (frauds * legitimate));
    const width = auc.high - auc.low;
    // Hanley–McNeil assumes continuous scores; six bins tie many pairs, so only roughly.
    assert.ok(Math.abs(width / (2 * 1.959964 * standardError) - 1) < 0.3, `bootstrap width ${width}, Hanley–McNeil ${2 * 1.959964 * standardError}`);
  });

  it('the intervals should cover the true AUC, AP and recall in about 95 % of samples drawn from known bins', () => {
    // Score distributions of each outcome over six bins, the truth the samples are drawn from.
    const fraudShares = [0.1, 0.1, 0.15, 0.2, 0.2, 0.25];
    const legitimateShares = [0.4, 0.25, 0.15, 0.1, 0.06, 0.04];
    const truth = { auc: binnedAuc(fraudShares, legitimateShares), averagePrecision: binnedAveragePrecision(fraudShares.map((share) => share * 100), legitimateShares.map((share) => share * 2_000)), recall: 0.65 };
    const uniform = seededUniform(11);
    const trials = 300;
    const covered = { auc: 0, averagePrecision: 0, recall: 0 };
    for (let trial = 0; trial < trials; trial++) {
      const sample = counts(multinomialDraw(100, fraudShares, uniform), multinomialDraw(2_000, legitimateShares, uniform), 3);
      const metrics = summarize(sample, { resamples: 400, seed: trial }).metrics;
      for (const name of ['auc', 'averagePrecision', 'recall'] as const) {
        if (metrics[name].low <= truth[name] && truth[name] <= metrics[name].high) covered[name]++;
      }
    }
    console.log(`      coverage of ${trials}: ${JSON.stringify(covered)}`);
    // 95 % of 300 is 285, with a standard deviation of about 3.8: neither much too narrow nor much too wide. Seeded, so the counts are fixed.
    for (const name of ['auc', 'averagePrecision', 'recall'] as const) assert.ok(covered[name] >= 270 && covered[name] <= 297, `${name} covered in ${covered[name]} of ${trials}`);
  });

  it('the same counts compared should give a difference of 0 with an interval around it', () => {
    const comparison = compareQuality(champion, champion);
    for (const estimate of Object.values(comparison.difference)) {
      assert.equal(estimate.value, 0);
      assert.ok(estimate.low < 0 && estimate.high > 0, JSON.stringify(estimate));
    }
  });

  it('a wider level should give wider bootstrap intervals, and more data narrower ones', () => {
    const ninetyNine = summarize(champion, { confidence: 0.99 }).metrics.auc;
    const ninety = summarize(champion, { confidence: 0.9 }).metrics.auc;
    assert.ok(ninetyNine.low < ninety.low && ninetyNine.high > ninety.high);
    const tenfold = counts(champion.fraudBins.map((count) => count * 10), champion.legitimateBins.map((count) => count * 10), 4);
    const small = summarize(champion).metrics.auc;
    const large = summarize(tenfold).metrics.auc;
    close(large.value, small.value, 1e-12);
    assert.ok(large.high - large.low < (small.high - small.low) / 2);
  });

  it('perfectly separated bins should give AUC 1 with the interval [1, 1]', () => {
    const separated = summarize(counts([0, 0, 9], [9, 0, 0], 2)).metrics;
    assert.deepEqual(separated.auc, { value: 1, low: 1, high: 1 });
    assert.deepEqual(separated.averagePrecision, { value: 1, low: 1, high: 1 });
  });

  it('should refuse a confidence level outside (0, 1)', () => {
    assert.throws(() => summarize(champion, { confidence: 95 }), /confidence must be between 0 and 1/);
    assert.throws(() => summarize(champion, { resamples: 0 }), /resamples must be a positive integer/);
  });
});

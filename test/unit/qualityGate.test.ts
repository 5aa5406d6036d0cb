import assert from 'node:assert/strict';
import { DEFAULT_GATE, evaluateGate, type GateOptions } from '../../client/qualityGate.js';
import type { Estimate, MetricName, QualityComparison, QualitySummary } from '../../client/qualityStatistics.js';

const at = (value: number, low: number, high: number): Estimate => ({ value, low, high });

function summary(frauds: number, metrics: Partial<Record<MetricName, Estimate>> = {}): QualitySummary {
  return {
    frauds,
    transactions: frauds * 100,
    metrics: { auc: at(0.86, 0.84, 0.88), averagePrecision: at(0.5, 0.45, 0.55), recall: at(0.6, 0.55, 0.65), alertRate: at(0.01, 0.009, 0.011), ...metrics },
  };
}

/** A comparison that passes the default gate: enough frauds, every difference clear of zero. */
function comparison(change: Partial<{ championFrauds: number; challengerFrauds: number; difference: Partial<Record<MetricName, Estimate>> }> = {}): QualityComparison {
  return {
    champion: summary(change.championFrauds ?? 120),
    challenger: summary(change.challengerFrauds ?? 118, { auc: at(0.9, 0.88, 0.92), averagePrecision: at(0.6, 0.55, 0.65), recall: at(0.7, 0.65, 0.75) }),
    difference: { auc: at(0.04, 0.01, 0.07), averagePrecision: at(0.1, 0.03, 0.17), recall: at(0.1, 0.02, 0.18), alertRate: at(0, -0.001, 0.001), ...change.difference },
  };
}

describe('the promotion gate', () => {
  it('should pass a challenger that meets every condition, with no failure named', () => {
    assert.deepEqual(evaluateGate(comparison(), { ...DEFAULT_GATE, minRecallGain: 0 }), { passed: true, failures: [] });
  });

  it('should fail on too few frauds for either model alone, naming the model and the numbers', () => {
    const champion = evaluateGate(comparison({ championFrauds: 12 }), DEFAULT_GATE);
    assert.deepEqual(champion.failures, ['only 12 frauds with a known outcome for the champion, need 50 (--min-frauds)']);
    const challenger = evaluateGate(comparison({ challengerFrauds: 49 }), DEFAULT_GATE);
    assert.equal(challenger.passed, false);
    assert.deepEqual(challenger.failures, ['only 49 frauds with a known outcome for the challenger, need 50 (--min-frauds)']);
    // Exactly the minimum is enough.
    assert.equal(evaluateGate(comparison({ championFrauds: 50, challengerFrauds: 50 }), DEFAULT_GATE).passed, true);
  });

  it('should fail on an AUC difference whose lower bound is below −max loss alone, and pass at exactly −max loss', () => {
    const lost = evaluateGate(comparison({ difference: { auc: at(-0.05, -0.07, -0.03) } }), DEFAULT_GATE);
    assert.deepEqual(lost.failures, ['challenger AUC 0.9000 [0.8800, 0.9200] vs champion 0.8600: difference lower bound -0.0700 < 0.0000 (--max-auc-loss)']);
    const options: GateOptions = { ...DEFAULT_GATE, maxAucLoss: 0.01 };
    assert.equal(evaluateGate(comparison({ difference: { auc: at(0.01, -0.01, 0.03) } }), options).passed, true);
    const below = evaluateGate(comparison({ difference: { auc: at(0.01, -0.0101, 0.03) } }), options);
    assert.deepEqual(below.failures, ['challenger AUC 0.9000 [0.8800, 0.9200] vs champion 0.8600: difference lower bound -0.0101 < -0.0100 (--max-auc-loss)']);
    // Zero loss allowed: a lower bound of exactly 0 passes, anything below fails.
    assert.equal(evaluateGate(comparison({ difference: { auc: at(0.02, 0, 0.04) } }), DEFAULT_GATE).passed, true);
  });

  it('should fail on an average precision difference alone', () => {
    const result = evaluateGate(comparison({ difference: { averagePrecision: at(0.01, -0.02, 0.04) } }), { ...DEFAULT_GATE, maxApLoss: 0.015 });
    assert.deepEqual(result.failures, ['challenger average precision 0.6000 [0.5500, 0.6500] vs champion 0.5000: difference lower bound -0.0200 < -0.0150 (--max-ap-loss)']);
  });

  it('should check the recall gain only when asked, and then fail on it alone', () => {
    const flat = comparison({ difference: { recall: at(0, -0.05, 0.05) } });
    assert.equal(evaluateGate(flat, DEFAULT_GATE).passed, true);
    assert.deepEqual(evaluateGate(flat, { ...DEFAULT_GATE, minRecallGain: 0 }).failures, [
      'challenger recall 0.7000 [0.6500, 0.7500] vs champion 0.6000: difference lower bound -0.0500 < 0.0000 (--min-recall-gain)',
    ]);
    // A negative gain allows a loss.
    assert.equal(evaluateGate(flat, { ...DEFAULT_GATE, minRecallGain: -0.05 }).passed, true);
  });

  it('should fail when a metric cannot be compared (no fraud, no legitimate transaction), not pass it', () => {
    const result = evaluateGate(comparison({ difference: { auc: at(Number.NaN, Number.NaN, Number.NaN) } }), DEFAULT_GATE);
    assert.equal(result.passed, false);
    assert.match(result.failures[0] ?? '', /^AUC cannot be compared/);
  });

  it('should name every failed condition at once', () => {
    const result = evaluateGate(
      comparison({ championFrauds: 3, challengerFrauds: 4, difference: { auc: at(-0.1, -0.2, 0), averagePrecision: at(-0.1, -0.2, 0), recall: at(-0.1, -0.2, 0) } }),
      { ...DEFAULT_GATE, minRecallGain: 0 },
    );
    assert.equal(result.failures.length, 5);
  });
});

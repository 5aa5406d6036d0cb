import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { SCORE_BUCKETS, ScoreHistogram } from '../../src/observability/scoreHistogram.js';
import { sample } from '../helpers/scrape.js';

describe('fraud_prediction_score, the score histogram', () => {
  it('should put a score equal to a bound in that bound\'s bucket (le: less than or equal), and one just above in the next', async () => {
    const registry = new Registry();
    const histogram = new ScoreHistogram(registry);
    const series = histogram.labels('binary', '2.1.0');
    for (const score of [0, 0.001, 0.5, 0.5000001, 1]) series.observe(score);
    const text = await registry.metrics();
    const bucket = (le: string): number | undefined => sample(text, `fraud_prediction_score_bucket{task="binary",version="2.1.0",le="${le}"}`);
    assert.equal(bucket('0.001'), 2);
    assert.equal(bucket('0.4'), 2);
    assert.equal(bucket('0.5'), 3);
    assert.equal(bucket('0.6'), 4);
    assert.equal(bucket('0.999'), 4);
    assert.equal(bucket('1'), 5);
    assert.equal(bucket('+Inf'), 5);
    assert.equal(sample(text, 'fraud_prediction_score_count{task="binary",version="2.1.0"}'), 5);
    assert.equal(sample(text, 'fraud_prediction_score_sum{task="binary",version="2.1.0"}'), 0.001 + 0.5 + 0.5000001 + 1);
    assert.match(text, /^# TYPE fraud_prediction_score histogram$/m);
  });

  it('should keep its bounds sorted and inside [0, 1], and remove a version\'s series entirely', async () => {
    assert.deepEqual([...SCORE_BUCKETS], [...SCORE_BUCKETS].sort((a, b) => a - b));
    assert.ok(SCORE_BUCKETS.every((bound) => bound > 0 && bound <= 1));
    const registry = new Registry();
    const histogram = new ScoreHistogram(registry);
    histogram.labels('binary', 'old').observe(0.2);
    histogram.labels('binary', 'new').observe(0.3);
    histogram.remove('binary', 'old');
    const text = await registry.metrics();
    assert.ok(!text.includes('version="old"'));
    assert.equal(sample(text, 'fraud_prediction_score_count{task="binary",version="new"}'), 1);
  });
});

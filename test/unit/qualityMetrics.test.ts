import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { QualityMetrics } from '../../src/observability/qualityMetrics.js';
import { MemoryQualityLedger } from '../../src/quality/memoryQualityLedger.js';
import { QualityFeed } from '../../src/quality/qualityFeed.js';
import type { ScoredModel } from '../../src/state/modelScores.js';
import { sample } from '../helpers/scrape.js';

const DAY = 86_400;
const D = 20_000;
const SERVING: ScoredModel = { task: 'binary', name: 'fraud-binary', version: '2.0.0', revision: 'r1' };
const SHADOW: ScoredModel = { task: 'binary', name: 'fraud-binary', version: '2.1.0', revision: 'r2' };

describe('live quality metrics (fraud_quality_*)', () => {
  it('should count applied outcomes by outcome and decision, their scores and delays, and corrections apart, per model version', async () => {
    const registry = new Registry();
    const metrics = new QualityMetrics(registry);
    metrics.initialise(['binary', 'multiclass']);
    const ledger = new MemoryQualityLedger({ retentionDays: 35, maxRevisionsPerTask: 8 }, { dropped: () => undefined, revisionDropped: () => undefined });
    const feed = new QualityFeed(ledger, metrics);
    const eventTime = D * DAY;
    const scores = [
      { model: SERVING, fraudProbability: 0.9, alerted: true },
      { model: SHADOW, fraudProbability: 0.2, alerted: false },
    ];
    await feed.take([
      { outcome: 'fraud', knownAt: eventTime + 7_200, joined: { eventTime, scores } },
      { outcome: 'legitimate', knownAt: eventTime + 3 * DAY, joined: { eventTime, scores: [{ model: SERVING, fraudProbability: 0, alerted: false }] } },
    ]);
    await feed.take([{ outcome: 'legitimate', knownAt: eventTime + DAY, replaced: { outcome: 'fraud', knownAt: eventTime + 7_200 }, joined: { eventTime, scores } }]);
    feed.unscored('applied');
    const text = await registry.metrics();
    const series = (name: string, labels: string): number | undefined => sample(text, `${name}{${labels}}`);
    // prom-client writes a bucket's le first.
    const bucket = (name: string, le: string, labels: string): number | undefined => sample(text, `${name}_bucket{le="${le}",${labels}}`);
    const serving = 'task="binary",model="fraud-binary",version="2.0.0"';
    const shadow = 'task="binary",model="fraud-binary",version="2.1.0"';
    assert.equal(series('fraud_quality_outcomes_total', `${serving},outcome="fraud",decision="alerted"`), 1);
    assert.equal(series('fraud_quality_outcomes_total', `${serving},outcome="legitimate",decision="passed"`), 1);
    assert.equal(series('fraud_quality_outcomes_total', `${shadow},outcome="fraud",decision="passed"`), 1);
    assert.equal(series('fraud_quality_outcomes_total', `${shadow},outcome="legitimate",decision="passed"`), undefined, 'a correction is not an outcome again');
    assert.equal(series('fraud_quality_corrections_total', `${serving},decision="alerted",from="fraud",to="legitimate"`), 1);
    assert.equal(series('fraud_quality_corrections_total', `${shadow},decision="passed",from="fraud",to="legitimate"`), 1);
    assert.equal(bucket('fraud_quality_score', '0', `${serving},outcome="legitimate"`), 1, 'a score of 0 in the first bucket');
    assert.equal(bucket('fraud_quality_score', '1', `${serving},outcome="fraud"`), 1);
    assert.equal(series('fraud_quality_score_count', `${shadow},outcome="fraud"`), 1);
    assert.equal(bucket('fraud_quality_outcome_delay_seconds', '86400', serving), 1);
    assert.equal(bucket('fraud_quality_outcome_delay_seconds', '259200', serving), 2);
    assert.equal(series('fraud_quality_outcome_delay_seconds_sum', serving), 7_200 + 3 * DAY);
    assert.equal(series('fraud_quality_unscored_outcomes_total', 'status="applied"'), 1);
    assert.equal(series('fraud_quality_updates_dropped_total', 'reason="unavailable"'), 0, 'drop series exist from the start');
    assert.equal(series('fraud_quality_revisions_dropped_total', 'task="multiclass"'), 0);
    // The ledger took the same outcomes, and holds the one in force.
    const [counts] = (await ledger.read({ task: undefined, revisions: ['r1'], firstDay: D, lastDay: D })).map((revision) => revision.days.get(D));
    assert.deepEqual([counts?.fraudAlerted, counts?.legitimateAlerted, counts?.legitimatePassed], [0, 1, 1]);
  });
});

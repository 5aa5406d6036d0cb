import assert from 'node:assert/strict';
import { evaluateTargets, formatTargets, type TargetFigures, type TargetRow, type UnaryCeilingFigure, type Verdict } from '../../bench/benchTargets.js';

const notMeasured = { notMeasured: 'not run here' };

/** Figures exactly on every bound. */
function onTheBounds(): TargetFigures {
  const unary: UnaryCeilingFigure = { rpsRatio: 0.85, cpuPerRequestRatio: 1.3 };
  return {
    batchOverFloor: { predictionsPerSecond: 500, floorRowsPerSecond: 1_000 },
    streamOverUnary: { cpuRatio: 3, streamP99Ms: 4, unaryP99Ms: 4 },
    unaryOverCeiling: new Map([
      [16, unary],
      [64, unary],
      [256, unary],
    ]),
    redis: { batchTimeRatio: 4, unaryRatio: 0.8, failedBatches: 0 },
    redisBytesPerCard: 300,
    shadowOverPlain: new Map([1, 16, 64].map((concurrency) => [concurrency, { rpsRatio: 0.9, p99Ratio: 1.1 }])),
    decisionLogOverPlain: new Map([1, 16, 64].map((concurrency) => [concurrency, { rpsRatio: 0.9, p99Ratio: 1.1 }])),
    embeddedMemory: { card: { rss: 300, estimate: 360 }, terminal: { rss: 200, estimate: 160 } },
  };
}

function verdictOf(rows: readonly TargetRow[], fragment: string): Verdict {
  const matching = rows.filter((row) => row.target.includes(fragment));
  assert.equal(matching.length, 1, `one target mentions "${fragment}": ${JSON.stringify(matching.map((row) => row.target))}`);
  return (matching[0] as TargetRow).verdict;
}

describe('the closing table of npm run bench (evaluateTargets)', () => {
  it('should call every target met when its figure is exactly on the bound', () => {
    const rows = evaluateTargets(onTheBounds());
    assert.equal(rows.length, 21);
    assert.deepEqual(
      rows.filter((row) => row.verdict !== 'met').map((row) => row.target),
      [],
    );
  });

  it('should call each target missed just past its bound, and only that one', () => {
    const base = onTheBounds();
    const cases: { readonly fragment: string; readonly figures: TargetFigures }[] = [
      { fragment: 'PredictBatch', figures: { ...base, batchOverFloor: { predictionsPerSecond: 499.9, floorRowsPerSecond: 1_000 } } },
      { fragment: 'PredictStream', figures: { ...base, streamOverUnary: { cpuRatio: 2.9999, streamP99Ms: 4, unaryP99Ms: 4 } } },
      {
        fragment: "no-op server's requests/s, c=64",
        figures: { ...base, unaryOverCeiling: new Map([...base.unaryOverCeiling, [64, { rpsRatio: 0.8499, cpuPerRequestRatio: 1.3 }]]) },
      },
      {
        fragment: 'CPU per request <= 1.3x the no-op server\'s, c=256',
        figures: { ...base, unaryOverCeiling: new Map([...base.unaryOverCeiling, [256, { rpsRatio: 0.85, cpuPerRequestRatio: 1.3001 }]]) },
      },
      { fragment: '10,000-transaction batch', figures: { ...base, redis: { batchTimeRatio: 4.0001, unaryRatio: 0.8, failedBatches: 0 } } },
      { fragment: '10,000-transaction batch', figures: { ...base, redis: { batchTimeRatio: 1, unaryRatio: 0.8, failedBatches: 1 } } },
      { fragment: 'Redis: unary Predict', figures: { ...base, redis: { batchTimeRatio: 4, unaryRatio: 0.7999, failedBatches: 0 } } },
      { fragment: 'Redis: <= 300 B per card', figures: { ...base, redisBytesPerCard: 300.01 } },
      { fragment: 'at c=16 with a shadow model', figures: { ...base, shadowOverPlain: new Map([...base.shadowOverPlain, [16, { rpsRatio: 0.8999, p99Ratio: 1 }]]) } },
      { fragment: 'at c=64 with a shadow model', figures: { ...base, shadowOverPlain: new Map([...base.shadowOverPlain, [64, { rpsRatio: 1, p99Ratio: 1.1001 }]]) } },
      { fragment: 'at c=1 with the decision log', figures: { ...base, decisionLogOverPlain: new Map([...base.decisionLogOverPlain, [1, { rpsRatio: 0.8999, p99Ratio: 1.1 }]]) } },
      { fragment: '<= 300 B per card by RSS', figures: { ...base, embeddedMemory: { card: { rss: 300.01, estimate: 300.01 }, terminal: { rss: 200, estimate: 200 } } } },
      { fragment: '<= 200 B per terminal by RSS', figures: { ...base, embeddedMemory: { card: { rss: 300, estimate: 300 }, terminal: { rss: 200.01, estimate: 200.01 } } } },
      { fragment: 'of RSS, per card', figures: { ...base, embeddedMemory: { card: { rss: 300, estimate: 360.01 }, terminal: { rss: 200, estimate: 200 } } } },
      { fragment: 'of RSS, per terminal', figures: { ...base, embeddedMemory: { card: { rss: 300, estimate: 300 }, terminal: { rss: 200, estimate: 159.99 } } } },
    ];
    for (const { fragment, figures } of cases) {
      const rows = evaluateTargets(figures);
      assert.equal(verdictOf(rows, fragment), 'missed', fragment);
      assert.deepEqual(
        rows.filter((row) => row.verdict !== 'met').map((row) => row.target),
        [rows.find((row) => row.target.includes(fragment))?.target],
        fragment,
      );
    }
  });

  it('should say "not measured" with the reason for a figure the run did not produce, and for a concurrency not run', () => {
    const rows = evaluateTargets({ ...onTheBounds(), redis: notMeasured, redisBytesPerCard: notMeasured, unaryOverCeiling: new Map([[16, { rpsRatio: 0.9, cpuPerRequestRatio: 1 }]]) });
    for (const fragment of ['10,000-transaction batch', 'Redis: unary Predict', 'Redis: <= 300 B per card']) {
      const row = rows.find((each) => each.target.includes(fragment));
      assert.deepEqual({ verdict: row?.verdict, figure: row?.figure }, { verdict: 'not measured', figure: 'not run here' });
    }
    assert.equal(verdictOf(rows, "requests/s, c=16"), 'met');
    assert.equal(verdictOf(rows, "requests/s, c=64"), 'not measured');
    assert.equal(rows.find((each) => each.target.includes('requests/s, c=256'))?.figure, 'c=256 is not run');
  });

  it('should print one line per target with its verdict and figure', () => {
    const rows = evaluateTargets(onTheBounds());
    const lines = formatTargets(rows).split('\n');
    assert.equal(lines.length, rows.length + 1);
    assert.match(lines[1] ?? '', /^ {2}met {10}PredictBatch.* 50\.0 % \(500\/s of 1,000 rows\/s\)$/);
  });
});

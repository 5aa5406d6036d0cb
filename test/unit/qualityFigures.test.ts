import assert from 'node:assert/strict';
import { binnedAuc, binnedAveragePrecision, emptyCounts, figuresOf } from '../../src/quality/qualityFigures.js';
import { binOf, coarseBounds, SCORE_BIN_COUNT, SCORE_BIN_UPPER_BOUNDS } from '../../src/quality/scoreBins.js';
import { seededUniform as seeded } from '../../client/resampling.js';
import { exactAuc, exactAveragePrecision } from '../helpers/rankingFigures.js';
import { scoreSet, type ScoredOutcome, type ScoreSetShape } from '../helpers/scoreSets.js';

/** The next double above `value` (value > 0). */
function nextUp(value: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  view.setBigUint64(0, view.getBigUint64(0) + 1n);
  return view.getFloat64(0);
}

function binned(set: readonly ScoredOutcome[]): { fraud: number[]; legitimate: number[] } {
  const fraud = new Array<number>(SCORE_BIN_COUNT).fill(0);
  const legitimate = new Array<number>(SCORE_BIN_COUNT).fill(0);
  for (const { score, fraud: isFraud } of set) {
    const bins = isFraud ? fraud : legitimate;
    const bin = binOf(score);
    bins[bin] = (bins[bin] as number) + 1;
  }
  return { fraud, legitimate };
}

const of = (frauds: number[], legitimates: number[]): ScoredOutcome[] => [
  ...frauds.map((score) => ({ score, fraud: true })),
  ...legitimates.map((score) => ({ score, fraud: false })),
];

describe('live quality: score bins', () => {
  it('should be strictly ascending from a bin for exactly 0 to a bin ending at 1, finer near both ends than in the middle', () => {
    const bounds = SCORE_BIN_UPPER_BOUNDS;
    assert.ok(bounds.length >= 100 && bounds.length <= 200, `${bounds.length} bins`);
    assert.equal(bounds[0], 0);
    assert.equal(bounds.at(-1), 1);
    for (let index = 1; index < bounds.length; index++) assert.ok((bounds[index] as number) > (bounds[index - 1] as number), `bound ${index}`);
    assert.ok((bounds[1] as number) < 1e-4, 'the first interior bound separates scores far below 0.01 %');
    const width = (index: number): number => (bounds[index + 1] as number) - (bounds[index] as number);
    const middle = Math.floor(bounds.length / 2);
    assert.ok(width(2) < width(middle) / 100 && width(bounds.length - 3) < width(middle) / 100);
  });

  it('should put 0 in the first bin, 1 in the last, a score equal to a bound in the bin it bounds and the next double above it in the next', () => {
    const bounds = SCORE_BIN_UPPER_BOUNDS;
    assert.equal(binOf(0), 0);
    assert.equal(binOf(Number.MIN_VALUE), 1);
    assert.equal(binOf(1), bounds.length - 1);
    for (let index = 0; index < bounds.length; index++) {
      const bound = bounds[index] as number;
      assert.equal(binOf(bound), index, `a score equal to bound ${index}`);
      if (index < bounds.length - 1) assert.equal(binOf(nextUp(bound)), index + 1, `just above bound ${index}`);
    }
    // Not probabilities, but counted somewhere rather than lost.
    assert.equal(binOf(-0.5), 0);
    assert.equal(binOf(Number.NaN), 0);
    assert.equal(binOf(1.5), bounds.length - 1);
  });

  it('should take every sixth bound, 0 and 1 included, for the Prometheus histogram', () => {
    const coarse = coarseBounds();
    assert.equal(coarse[0], 0);
    assert.equal(coarse.at(-1), 1);
    assert.ok(coarse.length >= 20 && coarse.length <= 30, `${coarse.length} buckets`);
    for (const bound of coarse) assert.ok(SCORE_BIN_UPPER_BOUNDS.includes(bound), `${bound} is a ledger bound`);
  });
});

describe('live quality: figures from bins', () => {
  it('should count a fraud and a legitimate transaction in the same bin as half a win (AUC), by hand', () => {
    // Frauds 0.9 and 0.4, legitimate 0.1, 0.4 and 0.8: 0.9 beats all three (3),
    // 0.4 beats 0.1 (1), ties 0.4 (1/2), loses to 0.8: 4.5 of 6 pairs.
    const set = of([0.9, 0.4], [0.1, 0.4, 0.8]);
    const { fraud, legitimate } = binned(set);
    assert.equal(exactAuc(set), 0.75);
    assert.equal(binnedAuc(fraud, legitimate), 0.75);
  });

  it('should step down from the highest bin for average precision, by hand', () => {
    // From the top: 0.9 fraud (precision 1, recall 1/2), 0.8 legitimate, then
    // 0.4 a fraud and a legitimate one together (precision 2/4, recall 1):
    // 1/2 · 1 + 1/2 · 2/4 = 0.75.
    const set = of([0.9, 0.4], [0.1, 0.4, 0.8]);
    const { fraud, legitimate } = binned(set);
    assert.equal(exactAveragePrecision(set), 0.75);
    assert.equal(binnedAveragePrecision(fraud, legitimate), 0.75);
    // Two frauds and two legitimate in one bin, nothing above: spread evenly,
    // the first fraud is at rank 2 (1/2), the second at rank 4 (2/4).
    const oneBin = new Array<number>(SCORE_BIN_COUNT).fill(0);
    oneBin[50] = 2;
    assert.equal(binnedAveragePrecision(oneBin, oneBin), 0.5);
  });

  // Realistic fraud scores: legitimate transactions crowded near 0, frauds spread; 10 seeds each.
  const shapes: readonly (ScoreSetShape & { readonly name: string })[] = [
    { name: 'a good model', legitimate: 20_000, frauds: 1_000, legitimateLogit: [-5, 1.5], fraudLogit: [0, 2.5] },
    { name: 'a weaker model', legitimate: 20_000, frauds: 1_000, legitimateLogit: [-6, 1], fraudLogit: [-3, 2] },
    { name: 'a poor model', legitimate: 50_000, frauds: 500, legitimateLogit: [-4, 1], fraudLogit: [-3.5, 1] },
    { name: 'a tree model answering 0 often', legitimate: 20_000, frauds: 2_000, legitimateLogit: [-7, 2], fraudLogit: [2, 3], zeros: 0.2 },
    { name: 'scores far below 0.1 %', legitimate: 20_000, frauds: 1_000, legitimateLogit: [-9, 1], fraudLogit: [-8, 1] },
  ];
  /** The tolerance docs/model-quality.md states. */
  const TOLERANCE = { auc: 0.002, averagePrecision: 0.005 };

  it(`should estimate AUC within ${TOLERANCE.auc} and average precision within ${TOLERANCE.averagePrecision} of the exact figures on realistic score sets`, () => {
    const worst = { auc: 0, averagePrecision: 0 };
    for (const [index, shape] of shapes.entries()) {
      for (let seed = 1; seed <= 10; seed++) {
        const set = scoreSet(shape, seeded(1_000 * index + seed));
        const { fraud, legitimate } = binned(set);
        const auc = Math.abs(binnedAuc(fraud, legitimate) - exactAuc(set));
        const averagePrecision = Math.abs(binnedAveragePrecision(fraud, legitimate) - exactAveragePrecision(set));
        assert.ok(auc <= TOLERANCE.auc, `${shape.name}, seed ${seed}: AUC off by ${auc}`);
        assert.ok(averagePrecision <= TOLERANCE.averagePrecision, `${shape.name}, seed ${seed}: average precision off by ${averagePrecision}`);
        worst.auc = Math.max(worst.auc, auc);
        worst.averagePrecision = Math.max(worst.averagePrecision, averagePrecision);
      }
    }
    process.stdout.write(`      largest error: AUC ${worst.auc.toExponential(2)}, average precision ${worst.averagePrecision.toExponential(2)}\n`);
  });

  it('should answer NaN where a figure is undefined, and the rates of what is counted', () => {
    const none = figuresOf(emptyCounts());
    for (const [name, value] of Object.entries(none)) assert.ok(Number.isNaN(value), `${name} without any outcome`);

    const legitimateOnly = emptyCounts();
    legitimateOnly.legitimateAlerted = 1;
    legitimateOnly.legitimatePassed = 3;
    (legitimateOnly.legitimateBins)[10] = 4;
    legitimateOnly.delaySeconds = 40;
    legitimateOnly.delayCount = 4;
    const noFraud = figuresOf(legitimateOnly);
    assert.ok(Number.isNaN(noFraud.auc) && Number.isNaN(noFraud.averagePrecision) && Number.isNaN(noFraud.recall));
    assert.equal(noFraud.precision, 0);
    assert.equal(noFraud.alertRate, 0.25);
    assert.equal(noFraud.fraudRate, 0);
    assert.equal(noFraud.meanOutcomeDelaySeconds, 10);

    const fraudOnly = emptyCounts();
    fraudOnly.fraudPassed = 2;
    (fraudOnly.fraudBins)[3] = 2;
    const noLegitimate = figuresOf(fraudOnly);
    assert.ok(Number.isNaN(noLegitimate.auc), 'AUC needs both outcomes');
    assert.ok(Number.isNaN(noLegitimate.precision), 'no alert');
    assert.equal(noLegitimate.averagePrecision, 1);
    assert.equal(noLegitimate.recall, 0);
    assert.equal(noLegitimate.fraudRate, 1);
  });
});

import assert from 'node:assert/strict';
import { exactAuc, exactAveragePrecision, type Labelled } from '../helpers/rankingFigures.js';

const items = (pairs: readonly [number, boolean][]): Labelled[] => pairs.map(([score, fraud]) => ({ score, fraud }));

describe('exact ranking figures (the reference of the live quality tests)', () => {
  it('should give AUC 1 when every fraud scores above every legitimate transaction, 0 when below, and count ties half', () => {
    assert.equal(exactAuc(items([[0.9, true], [0.8, true], [0.2, false], [0.1, false]])), 1);
    assert.equal(exactAuc(items([[0.1, true], [0.9, false]])), 0);
    assert.equal(exactAuc(items([[0.5, true], [0.5, false]])), 0.5);
    // Pairs: (0.9,0.5) win, (0.9,0.1) win, (0.5,0.5) half, (0.5,0.1) win: 3.5 of 4.
    assert.equal(exactAuc(items([[0.9, true], [0.5, true], [0.5, false], [0.1, false]])), 3.5 / 4);
    assert.ok(Number.isNaN(exactAuc(items([[0.3, true]]))));
  });

  it('should give scikit-learn\'s average precision, ties taken together', () => {
    // Ranked F, L, F: precision 1 at recall 1/2, 2/3 at recall 1.
    assert.equal(exactAveragePrecision(items([[0.9, true], [0.8, false], [0.7, true]])), 0.5 * 1 + 0.5 * (2 / 3));
    // A tie of F and L at the top: one threshold, precision 1/2 at recall 1.
    assert.equal(exactAveragePrecision(items([[0.9, true], [0.9, false]])), 0.5);
    assert.ok(Number.isNaN(exactAveragePrecision(items([[0.9, false]]))));
  });
});

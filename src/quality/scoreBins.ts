/**
 * The fixed score bins of live quality (GetModelQualityResponse.score_bin_upper_bounds).
 *
 * Fraud scores crowd near 0 (most transactions are legitimate and scored
 * well below 1 %), and the ranking that decides AUC and average precision is
 * decided there and near 1; so the bins are evenly spaced in logit (log-odds)
 * space, which makes them narrow at both ends and wide in the middle. Bin 0
 * holds exactly 0 (tree models answer it often), the last bin ends at 1.
 * Upper bounds are inclusive: bin i holds scores above bound i-1 and at most
 * bound i. Measured on realistic score sets (test/unit/qualityFigures.test.ts),
 * AUC and average precision from these bins are within 0.005 of the exact
 * figures.
 */

/** Logit of the first and last interior bound: 1.7e-5 and 1 - 1.7e-5. */
const LOGIT_EDGE = 11;
/** Bins between the first and the last interior bound. */
const INTERIOR_BINS = 156;

function logitSpaced(): number[] {
  const bounds = [0];
  for (let step = 0; step <= INTERIOR_BINS; step++) {
    const logit = -LOGIT_EDGE + (2 * LOGIT_EDGE * step) / INTERIOR_BINS;
    bounds.push(1 / (1 + Math.exp(-logit)));
  }
  bounds.push(1);
  return bounds;
}

/** Upper bounds, ascending: 0 (a bin for exactly 0), logit-spaced bounds, 1. 159 bins. */
export const SCORE_BIN_UPPER_BOUNDS: readonly number[] = Object.freeze(logitSpaced());

export const SCORE_BIN_COUNT = SCORE_BIN_UPPER_BOUNDS.length;

/**
 * The bin of a fraud probability: the first bin whose upper bound is at
 * least the score (a binary search over the bounds themselves, so a score
 * equal to a bound lands in the bin it bounds). Scores below 0 or NaN count
 * in bin 0, above 1 in the last: models answer probabilities, and a stray
 * value must still be counted somewhere.
 */
export function binOf(score: number, bounds: readonly number[] = SCORE_BIN_UPPER_BOUNDS): number {
  if (!(score > 0)) return 0;
  let low = 0;
  let high = bounds.length - 1;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (score <= (bounds[middle] as number)) high = middle;
    else low = middle + 1;
  }
  return low;
}

/**
 * Bucket bounds of the Prometheus histogram fraud_quality_score: every
 * `step`-th ledger bound (so a bucket is a union of ledger bins), 0 and 1
 * included. 28 bounds: the ledger's resolution is for the RPC; a
 * Prometheus series per bucket costs memory in every scrape.
 */
export function coarseBounds(step = 6, bounds: readonly number[] = SCORE_BIN_UPPER_BOUNDS): number[] {
  const coarse: number[] = [];
  for (let index = 0; index < bounds.length; index += step) coarse.push(bounds[index] as number);
  if (coarse.at(-1) !== 1) coarse.push(1);
  return coarse;
}

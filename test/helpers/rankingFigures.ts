/**
 * Exact ranking figures of scored transactions with known outcomes, computed
 * from every score (no bins): what the live quality figures, which the
 * service estimates from binned counts, are checked against.
 */

export interface Labelled {
  readonly score: number;
  readonly fraud: boolean;
}

/** Area under the ROC curve: the share of (fraud, legitimate) pairs the fraud scores higher, ties counting half. NaN without both outcomes. */
export function exactAuc(items: readonly Labelled[]): number {
  const sorted = [...items].sort((a, b) => a.score - b.score);
  let legitimateBelow = 0;
  let wins = 0;
  let frauds = 0;
  for (let start = 0; start < sorted.length; ) {
    let end = start;
    let tiedFrauds = 0;
    let tiedLegitimate = 0;
    while (end < sorted.length && (sorted[end] as Labelled).score === (sorted[start] as Labelled).score) {
      if ((sorted[end] as Labelled).fraud) tiedFrauds++;
      else tiedLegitimate++;
      end++;
    }
    wins += tiedFrauds * legitimateBelow + (tiedFrauds * tiedLegitimate) / 2;
    legitimateBelow += tiedLegitimate;
    frauds += tiedFrauds;
    start = end;
  }
  const legitimate = sorted.length - frauds;
  return frauds === 0 || legitimate === 0 ? Number.NaN : wins / (frauds * legitimate);
}

/**
 * Average precision: over the distinct scores from the highest down, the
 * precision at each one weighted by the recall it adds (scikit-learn's
 * average_precision_score). NaN without a fraud.
 */
export function exactAveragePrecision(items: readonly Labelled[]): number {
  const sorted = [...items].sort((a, b) => b.score - a.score);
  const frauds = sorted.filter((item) => item.fraud).length;
  if (frauds === 0) return Number.NaN;
  let truePositives = 0;
  let sum = 0;
  for (let start = 0; start < sorted.length; ) {
    let end = start;
    let added = 0;
    while (end < sorted.length && (sorted[end] as Labelled).score === (sorted[start] as Labelled).score) {
      if ((sorted[end] as Labelled).fraud) added++;
      end++;
    }
    truePositives += added;
    // `end` transactions score at least this much: the precision at this threshold.
    sum += (added / frauds) * (truePositives / end);
    start = end;
  }
  return sum;
}

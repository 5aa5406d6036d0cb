/**
 * Score sets for checking live quality's binned figures against exact ones:
 * a seeded generator of realistic fraud scores (most legitimate transactions
 * scored near 0, frauds spread with a tail near 1), and the exact AUC and
 * average precision of a scored set.
 */

/** mulberry32: a small seeded generator, so a failing case can be replayed. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const sigmoid = (logit: number): number => 1 / (1 + Math.exp(-logit));

export interface ScoredOutcome {
  readonly score: number;
  readonly fraud: boolean;
}

export interface ScoreSetShape {
  readonly legitimate: number;
  readonly frauds: number;
  /** Mean and spread of the legitimate transactions' logit (e.g. -5: a typical score of 0.007). */
  readonly legitimateLogit: readonly [number, number];
  readonly fraudLogit: readonly [number, number];
  /** Share of scores that are exactly 0 (tree models answer it). */
  readonly zeros?: number;
}

export function scoreSet(shape: ScoreSetShape, random: () => number): ScoredOutcome[] {
  const draw = ([mean, spread]: readonly [number, number]): number => (random() < (shape.zeros ?? 0) ? 0 : sigmoid(mean + spread * normal(random)));
  return [
    ...Array.from({ length: shape.legitimate }, () => ({ score: draw(shape.legitimateLogit), fraud: false })),
    ...Array.from({ length: shape.frauds }, () => ({ score: draw(shape.fraudLogit), fraud: true })),
  ];
}

/** Exact AUC: the share of (fraud, legitimate) pairs the fraud scores above, equal scores counting half. */
export function exactAuc(set: readonly ScoredOutcome[]): number {
  const sorted = [...set].sort((a, b) => a.score - b.score);
  let legitimatesBelow = 0;
  let wins = 0;
  let frauds = 0;
  for (let start = 0; start < sorted.length; ) {
    let end = start;
    let fraudsHere = 0;
    let legitimatesHere = 0;
    while (end < sorted.length && (sorted[end] as ScoredOutcome).score === (sorted[start] as ScoredOutcome).score) {
      if ((sorted[end] as ScoredOutcome).fraud) fraudsHere++;
      else legitimatesHere++;
      end++;
    }
    wins += fraudsHere * (legitimatesBelow + legitimatesHere / 2);
    legitimatesBelow += legitimatesHere;
    frauds += fraudsHere;
    start = end;
  }
  return wins / (frauds * legitimatesBelow);
}

/** Exact average precision (sklearn's average_precision_score): each distinct score a threshold, from the highest down. */
export function exactAveragePrecision(set: readonly ScoredOutcome[]): number {
  const sorted = [...set].sort((a, b) => b.score - a.score);
  const frauds = set.filter((item) => item.fraud).length;
  let truePositives = 0;
  let alerts = 0;
  let sum = 0;
  for (let start = 0; start < sorted.length; ) {
    let end = start;
    let fraudsHere = 0;
    while (end < sorted.length && (sorted[end] as ScoredOutcome).score === (sorted[start] as ScoredOutcome).score) {
      if ((sorted[end] as ScoredOutcome).fraud) fraudsHere++;
      end++;
    }
    truePositives += fraudsHere;
    alerts += end - start;
    if (fraudsHere > 0) sum += (fraudsHere / frauds) * (truePositives / alerts);
    start = end;
  }
  return sum;
}

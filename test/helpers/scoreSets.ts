/**
 * Score sets for checking live quality's binned figures against exact ones
 * (rankingFigures.ts): realistic fraud scores (most legitimate transactions
 * scored near 0, frauds spread with a tail near 1) from a seeded generator
 * (client/resampling.ts), so a failing case can be replayed.
 */
import type { Labelled } from './rankingFigures.js';

function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const sigmoid = (logit: number): number => 1 / (1 + Math.exp(-logit));

export type ScoredOutcome = Labelled;

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

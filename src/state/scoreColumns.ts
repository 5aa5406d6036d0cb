import { MAX_SCORED_MODELS_PER_TRANSACTION, scoredModelKey, type ScoredModel } from './modelScores.js';

/**
 * The scores the embedded store keeps with each remembered transaction, as
 * columns beside the transaction index's (transactionIndex.ts): per slot
 * MAX_SCORED_MODELS_PER_TRANSACTION model codes (Uint16, 0 for none), as
 * many probabilities (Float64, the exact doubles answered) and an alerted
 * bit mask (Uint8). No object per transaction or score: the model revision
 * is a small code from the store's dictionary (ScoredModelCodes). A slot
 * costs 4 × 2 + 4 × 8 + 1 = 41 bytes, whether it holds scores or not.
 */

const K = MAX_SCORED_MODELS_PER_TRANSACTION;

/** Bytes per slot of the score columns. */
export const SCORE_BYTES_PER_SLOT = K * 2 + K * 8 + 1;

/** A score as the columns hold it: the model by its code in the store's dictionary. */
export interface CodedScore {
  readonly code: number;
  readonly probability: number;
  readonly alerted: boolean;
}

export type KeepOutcome = 'kept' | 'present' | 'full';

export class ScoreColumns {
  readonly codes: Uint16Array;
  readonly probabilities: Float64Array;
  readonly alerted: Uint8Array;

  constructor(readonly slots: number) {
    this.codes = new Uint16Array(slots * K);
    this.probabilities = new Float64Array(slots * K);
    this.alerted = new Uint8Array(slots);
  }

  /** Empties a slot (a transaction newly remembered there keeps no scores yet). */
  clear(slot: number): void {
    this.codes.fill(0, slot * K, slot * K + K);
    this.alerted[slot] = 0;
  }

  /** Copies a slot's scores to a slot of `target` (the same columns when a slot moves, new ones when the table grows). */
  copy(from: number, target: ScoreColumns, to: number): void {
    for (let index = 0; index < K; index++) {
      target.codes[to * K + index] = this.codes[from * K + index] as number;
      target.probabilities[to * K + index] = this.probabilities[from * K + index] as number;
    }
    target.alerted[to] = this.alerted[from] as number;
  }

  /**
   * Keeps a model's score in a slot unless the slot already holds one of the
   * same model (the first answer stands: 'present') or all its places are
   * taken by other models ('full').
   */
  keep(slot: number, code: number, probability: number, alerted: boolean): KeepOutcome {
    const base = slot * K;
    for (let index = 0; index < K; index++) {
      const held = this.codes[base + index] as number;
      if (held === code) return 'present';
      if (held !== 0) continue;
      this.codes[base + index] = code;
      this.probabilities[base + index] = probability;
      if (alerted) this.alerted[slot] = (this.alerted[slot] as number) | (1 << index);
      return 'kept';
    }
    return 'full';
  }

  /** The scores of a slot, in the order they were kept. */
  read(slot: number): CodedScore[] {
    const scores: CodedScore[] = [];
    const base = slot * K;
    for (let index = 0; index < K; index++) {
      const code = this.codes[base + index] as number;
      if (code === 0) break;
      scores.push({ code, probability: this.probabilities[base + index] as number, alerted: ((this.alerted[slot] as number) & (1 << index)) !== 0 });
    }
    return scores;
  }
}

/** Codes (1 to 65 535) fit a Uint16 column; 0 means no score. */
const MAX_CODES = 0xffff;

/**
 * The model revisions whose scores a store keeps, each under a small code.
 * Revisions come with deployments (a handful a day at most), so the
 * dictionary never forgets one; past 65 535 a new revision gets no code and
 * its scores are not kept (counted as too_many_models).
 */
export class ScoredModelCodes {
  private readonly byKey = new Map<string, number>();
  /** Codes by the very object asked about: callers pass the same one for every score of a revision, and a key costs a string. */
  private readonly byObject = new WeakMap<ScoredModel, number>();
  private readonly models: ScoredModel[] = [];

  /** The code of a revision, given one if it has none; undefined when the dictionary is full. */
  codeOf(model: ScoredModel): number | undefined {
    const seen = this.byObject.get(model);
    if (seen !== undefined) return seen;
    const key = scoredModelKey(model);
    let code = this.byKey.get(key);
    if (code === undefined) {
      if (this.models.length >= MAX_CODES) return undefined;
      this.models.push({ task: model.task, name: model.name, version: model.version, revision: model.revision });
      code = this.models.length;
      this.byKey.set(key, code);
    }
    this.byObject.set(model, code);
    return code;
  }

  model(code: number): ScoredModel {
    const model = this.models[code - 1];
    if (model === undefined) throw new Error(`no scored model has code ${code}`);
    return model;
  }

  /** Every revision with its code, in code order (for snapshots). */
  *entries(): Generator<[number, ScoredModel]> {
    for (let index = 0; index < this.models.length; index++) yield [index + 1, this.models[index] as ScoredModel];
  }

  get size(): number {
    return this.models.length;
  }
}

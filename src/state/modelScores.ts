import type { ModelTask } from '../models/modelTask.js';

/**
 * The scores models gave a transaction, kept with the remembered transaction
 * so that its outcome, when it arrives (days later, at any replica), can be
 * joined to them: the input of live quality per model revision.
 */

/** A model revision that scored transactions. */
export interface ScoredModel {
  readonly task: ModelTask;
  /** Model name from its manifest. */
  readonly name: string;
  /** Version from its manifest. */
  readonly version: string;
  /** Exact revision of the artifact (ModelRef.revision). */
  readonly revision: string;
}

/** What one model revision said about one transaction. */
export interface ModelScore {
  readonly model: ScoredModel;
  /** The fraud probability of its answer (predictionOf), in [0, 1]. */
  readonly fraudProbability: number;
  /** Its decision was fraud: binary models at or above the threshold, scenario models any class but legitimate. */
  readonly alerted: boolean;
}

/** The scores of one recorded transaction, to keep with it. */
export interface TransactionScores {
  readonly transactionId: bigint;
  readonly customerId: bigint;
  readonly terminalId: bigint;
  readonly scores: readonly ModelScore[];
}

/** What an applied or corrected outcome joined: the transaction's event time and the scores kept with it. */
export interface JoinedScores {
  /** Event time of the transaction, Unix seconds. */
  readonly eventTime: number;
  readonly scores: readonly ModelScore[];
}

/**
 * Distinct model revisions whose scores one transaction keeps: the serving
 * and a shadow model for each of the two tasks (which share transaction
 * ids). A fifth revision's score (a swap between a transaction's calls, say)
 * is not kept and is counted (`too_many_models`). Both stores keep the same
 * bound.
 */
export const MAX_SCORED_MODELS_PER_TRANSACTION = 4;

/**
 * Why a score was not kept (fraud_quality_scores_not_kept_total{reason}),
 * counted per score: its transaction is not remembered (never recorded,
 * refused as late, evicted or expired), or its id is remembered for another
 * customer or terminal (`reused_id`: outcomes name the first recording); its
 * transaction already keeps MAX_SCORED_MODELS_PER_TRANSACTION other revisions
 * (`too_many_models`); the store could not be reached (`store_unavailable`);
 * the queue of scores waiting to be written was full (`queue_full`), or still
 * held them when the shutdown grace ended (`shutdown`); Redis: a score
 * kept names a model revision no longer in the scored-models registry, so
 * an outcome cannot join it (`unknown_model`); an answer that could not be
 * read back (`unencodable`).
 */
export type ScoresNotKeptReason = 'unknown_transaction' | 'reused_id' | 'too_many_models' | 'store_unavailable' | 'queue_full' | 'shutdown' | 'unknown_model' | 'unencodable';

/** Told of scores not kept: how many, and why. */
export type ScoresNotKept = (reason: ScoresNotKeptReason, scores: number) => void;

/** One string per model revision (the fields cannot hold NUL): the key of the stores' dictionaries. */
export function scoredModelKey(model: ScoredModel): string {
  return `${model.task}\u0000${model.name}\u0000${model.version}\u0000${model.revision}`;
}

/** A model revision from its JSON (as JSON.stringify wrote a ScoredModel), or undefined when it is not one. */
export function parseScoredModel(json: string): ScoredModel | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { task, name, version, revision } = parsed as Partial<Record<keyof ScoredModel, unknown>>;
  if ((task !== 'binary' && task !== 'multiclass') || typeof name !== 'string' || typeof version !== 'string' || typeof revision !== 'string') return undefined;
  return { task, name, version, revision };
}

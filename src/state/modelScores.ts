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

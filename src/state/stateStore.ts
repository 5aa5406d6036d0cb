import type { TransactionHistory } from '../features/entityHistory.js';
import type { OutcomeStatus } from '../features/featureSpec.js';
import type { JoinedScores, TransactionScores } from './modelScores.js';

/**
 * Where the history of customers and terminals is kept: the contract both
 * stores (in memory, Redis) fulfil, from models/feature-spec.json's
 * history.rules. The API layer records through it without knowing which one
 * runs; the features layer reads the histories it hands over.
 */

export type StoreKind = 'memory' | 'redis';

/** A transaction to record, as the store sees it. */
export interface TransactionEvent {
  readonly id: bigint;
  readonly customerId: bigint;
  readonly terminalId: bigint;
  readonly amount: number;
  /** Event time, Unix seconds (milliseconds as fractions). */
  readonly time: number;
}

export type OutcomeKind = 'fraud' | 'legitimate';

/** A confirmed outcome of a recorded transaction. */
export interface OutcomeReport {
  readonly transactionId: bigint;
  readonly outcome: OutcomeKind;
  /** When the outcome became known, Unix seconds. */
  readonly knownAt: number;
  /**
   * A correction of the outcome in force (models/feature-spec.json,
   * history.rules, corrections): without it a different outcome is a conflict.
   */
  readonly supersedes?: boolean;
}

export type { OutcomeStatus };

/**
 * Corrections one transaction takes (models/feature-spec.json, history.rules):
 * each correction to fraud adds a fraud to the terminal, so the cap bounds
 * what one transaction costs. Both stores keep the same cap.
 */
export const MAX_CORRECTIONS = 3;

export interface OutcomeResult {
  readonly status: OutcomeStatus;
  /** Why, for people; empty when applied. */
  readonly message: string;
  /** For a correction: the outcome it replaced, and when that one had become known. */
  readonly replaced?: { readonly outcome: OutcomeKind; readonly knownAt: number };
  /** Applied and corrected outcomes: the scores kept with the transaction (StateStore.keepScores), for live quality. */
  readonly joined?: JoinedScores;
}

/** A transaction refused because it is older than its customer's newest transaction minus the lateness. */
export interface LateTransaction {
  /** Its index in the batch. */
  readonly index: number;
  /** The earliest event time its customer accepted when it was checked, Unix seconds. */
  readonly earliestAccepted: number;
}

export interface RecordOptions {
  /**
   * True when the call is scored on history (the model reads it): a late
   * transaction then refuses the whole call. False for models that do not:
   * late transactions are left out of the history, the others recorded.
   */
  readonly allOrNothing: boolean;
}

/** Called once per recorded transaction, in order, with its history right after it was recorded. */
export type HistoryConsumer = (index: number, history: TransactionHistory) => void;

export interface StateStore {
  readonly kind: StoreKind;
  /**
   * Records transactions in order (each once: a duplicate is not recorded
   * again) and hands each one's history, as of right after it was recorded
   * and before the next one is, to `use`. A late transaction (not a
   * duplicate, and earlier than its customer's newest one minus the
   * lateness) is never recorded nor handed over, and is returned; with
   * `allOrNothing`, nothing of the call is recorded then. Rejects with
   * StateUnavailableError when the store cannot answer in time.
   */
  record(transactions: readonly TransactionEvent[], use: HistoryConsumer, options: RecordOptions): Promise<readonly LateTransaction[]>;
  /**
   * Records outcomes in order; each gets its own status. Applied and
   * corrected ones carry `joined`: the transaction's event time and every
   * score kept with it (keepScores), an empty list when none.
   */
  reportOutcomes(reports: readonly OutcomeReport[]): Promise<OutcomeResult[]>;
  /**
   * Keeps each item's scores with its remembered transaction (matched by id,
   * customer and terminal: the first recording of the id, the one outcomes
   * name), for live quality. At most one score per model revision and
   * transaction (the first stands: a retry scored by the same revision
   * changes nothing), at most MAX_SCORED_MODELS_PER_TRANSACTION revisions.
   * Scores not kept (transaction not remembered, too many revisions, store
   * unreachable) are counted by the store; this never rejects.
   */
  keepScores(items: readonly TransactionScores[]): Promise<void>;
  /** Stops background work and releases connections, after a last snapshot where the store takes them. */
  close(): Promise<void>;
}

/** The store did not answer (in time): the call fails fast rather than scoring on missing history. */
export class StateUnavailableError extends Error {
  override readonly name = 'StateUnavailableError';
}

/** What the history store says about itself now, for health (Redis: src/state/redisGuard.ts). */
export interface HistoryCondition {
  /** False while the store refuses writes (Redis out of memory): every scoring call fails, since every one records. */
  readonly writable: boolean;
  /** False while the store may drop history silently (an evicting Redis policy not accepted by the operator). */
  readonly trusted: boolean;
  /** False while the history is known incomplete after a loss. */
  readonly complete: boolean;
}

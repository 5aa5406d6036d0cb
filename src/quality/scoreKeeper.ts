import { performance } from 'node:perf_hooks';
import type { DecisionRecorder } from '../api/decisionCapture.js';
import type { ModelRun, ScoredCall } from '../decisionLog/scoredCall.js';
import type { ModelIdentity } from '../models/servingModel.js';
import type { Logger } from '../observability/logger.js';
import type { ModelScore, ScoredModel, ScoresNotKept, TransactionScores } from '../state/modelScores.js';
import type { StateStore } from '../state/stateStore.js';

/**
 * Keeps every model revision's score with the remembered transaction, so an
 * outcome arriving days later joins them (live quality per revision). A
 * recorder of answered calls: `record` only queues the call (references, no
 * copy), and the scores are read from the answers and handed to the store
 * off the scoring path. Calls of one turn of the event loop go in one
 * keepScores call, one write at a time; what arrives meanwhile waits for the
 * next. The queue is bounded in transactions (waiting or being written):
 * past it a call's scores are dropped and counted, never waited for.
 */

/** Transactions per keepScores call at most: a large backlog goes in several, the event loop served between them. */
const MAX_TRANSACTIONS_PER_WRITE = 1_024;

export interface ScoreKeeperOptions {
  readonly store: Pick<StateStore, 'keepScores'>;
  /** Transactions queued or being written at most (FRAUD_QUALITY_MAX_PENDING_SCORES). */
  readonly maxPendingTransactions: number;
  readonly onScoresNotKept: ScoresNotKept;
  readonly logger: Logger;
}

export class ScoreKeeper implements DecisionRecorder {
  readonly needsFeatures = false;
  private queue: ScoredCall[] = [];
  /** Transactions queued and being written. */
  private pending = 0;
  private writing: Promise<void> | undefined;
  private scheduled = false;
  private closed = false;
  private warnedFull = false;
  /** One ScoredModel per model identity (identities are replaced, never changed, when a revision moves). */
  private readonly models = new WeakMap<ModelIdentity, ScoredModel>();
  private readonly log: Logger;

  constructor(private readonly options: ScoreKeeperOptions) {
    this.log = options.logger.child({ component: 'score-keeper' });
  }

  /** Transactions queued or being written (for tests and a gauge). */
  get pendingTransactions(): number {
    return this.pending;
  }

  record(call: ScoredCall): void {
    const transactions = call.transactions.length;
    if (transactions === 0 || call.runs.length === 0) return;
    if (this.closed) {
      this.options.onScoresNotKept('shutdown', transactions * call.runs.length);
      return;
    }
    if (this.pending + transactions > this.options.maxPendingTransactions) {
      this.options.onScoresNotKept('queue_full', transactions * call.runs.length);
      if (!this.warnedFull) {
        this.warnedFull = true;
        this.log.warn(
          { maxPendingTransactions: this.options.maxPendingTransactions },
          'scores wait for the state store beyond FRAUD_QUALITY_MAX_PENDING_SCORES: new ones are dropped (fraud_quality_scores_not_kept_total{reason="queue_full"}); said once until the queue empties',
        );
      }
      return;
    }
    this.queue.push(call);
    this.pending += transactions;
    this.schedule();
  }

  /**
   * Stops taking calls and writes what is queued within `graceMs`; the
   * scores still queued then are counted (`shutdown`). A write in flight at
   * the end is the store's to finish or count.
   */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    const deadline = performance.now() + graceMs;
    while (this.queue.length > 0 || this.writing !== undefined) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      if (this.writing === undefined) this.write();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.writing, new Promise<void>((wake) => (timer = setTimeout(wake, left)))]);
      clearTimeout(timer);
    }
    const dropped = this.queue.reduce((sum, call) => sum + call.transactions.length * call.runs.length, 0);
    this.queue = [];
    if (dropped > 0) {
      this.options.onScoresNotKept('shutdown', dropped);
      this.log.warn({ scores: dropped, graceMs }, 'scores not yet kept when the shutdown grace ended were dropped');
    }
  }

  private schedule(): void {
    if (this.scheduled || this.writing !== undefined) return;
    this.scheduled = true;
    // After the calls of this turn: they go together.
    setImmediate(() => {
      this.scheduled = false;
      if (this.writing === undefined) this.write();
    });
  }

  /** Starts one keepScores call with the queue's first calls (up to MAX_TRANSACTIONS_PER_WRITE transactions, whole calls). */
  private write(): void {
    let transactions = 0;
    let taken = 0;
    while (taken < this.queue.length && transactions < MAX_TRANSACTIONS_PER_WRITE) transactions += (this.queue[taken++] as ScoredCall).transactions.length;
    if (taken === 0) return;
    const calls = this.queue.splice(0, taken);
    const items: TransactionScores[] = [];
    for (const call of calls) this.itemsOf(call, items);
    const done = (): void => {
      this.pending -= transactions;
      this.writing = undefined;
      if (this.queue.length > 0) this.schedule();
      else this.warnedFull = false;
    };
    // keepScores counts what it does not keep and does not reject; a rejection all the same is counted, not thrown.
    this.writing = this.options.store
      .keepScores(items)
      .catch(() => {
        this.options.onScoresNotKept(
          'store_unavailable',
          items.reduce((sum, item) => sum + item.scores.length, 0),
        );
      })
      .finally(done);
  }

  /** Each transaction's scores, from every run's answer (the serving model first, then shadows). */
  private itemsOf(call: ScoredCall, items: TransactionScores[]): void {
    const { transactions, runs } = call;
    for (let index = 0; index < transactions.length; index++) {
      const transaction = transactions[index];
      const scores: ModelScore[] = [];
      for (const run of runs) {
        try {
          scores.push({ model: this.modelOf(run), fraudProbability: run.fraudProbability(index), alerted: run.classId(index) !== 0 });
        } catch {
          this.options.onScoresNotKept('unencodable', 1);
        }
      }
      items.push({ transactionId: transaction?.transactionId ?? 0n, customerId: transaction?.customerId ?? 0n, terminalId: transaction?.terminalId ?? 0n, scores });
    }
  }

  private modelOf(run: ModelRun): ScoredModel {
    let model = this.models.get(run.identity);
    if (model === undefined || model.task !== run.task) {
      model = { task: run.task, name: run.identity.name, version: run.identity.version, revision: run.identity.revision };
      this.models.set(run.identity, model);
    }
    return model;
  }
}

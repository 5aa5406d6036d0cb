import { eventTimeSeconds } from '../features/eventClock.js';
import type { Transaction } from '../gen/fraud/v1/fraud_service.js';
import type { Metrics } from '../observability/metrics.js';
import { ConflictingRepeatError, type RepeatConflict } from '../state/conflictingRepeats.js';
import type { HistoryConsumer, StateStore, TransactionEvent } from '../state/stateStore.js';
import { performance } from 'node:perf_hooks';
import { AlreadyRecordedError, InvalidArgumentError, type FieldViolation } from './apiErrors.js';
import { ViolationList } from './validateTransaction.js';

export interface HistoryRecorderOptions {
  readonly store: StateStore;
  /** Unix seconds that tx_time_seconds counts from (the feature spec's clock). */
  readonly epochSeconds: number;
  /** How far behind the newest recorded transaction one may be (FRAUD_STATE_LATENESS_SECONDS). */
  readonly latenessSeconds: number;
  /** How far ahead of this service's clock one may be (FRAUD_STATE_MAX_FUTURE_SECONDS). */
  readonly maxFutureSeconds: number;
  readonly metrics: Metrics;
  readonly now?: () => number;
}

/**
 * The history step of the predict path: valid transactions become events of
 * the state store, checked against the bounds of event time (too far ahead of
 * the clock, or later than the lateness allows: INVALID_ARGUMENT naming the
 * bound), and are recorded, each handing its history to the feature writer.
 */
export class HistoryRecorder {
  private readonly now: () => number;
  private readonly duration: ReturnType<Metrics['state']['operationDuration']['labels']>;
  private readonly refusedLate: ReturnType<Metrics['state']['refused']['labels']>;
  private readonly refusedFuture: ReturnType<Metrics['state']['refused']['labels']>;
  private readonly refusedConflicting: ReturnType<Metrics['state']['refused']['labels']>;

  constructor(private readonly options: HistoryRecorderOptions) {
    this.now = options.now ?? Date.now;
    this.duration = options.metrics.state.operationDuration.labels(options.store.kind, 'record');
    this.refusedLate = options.metrics.state.refused.labels('late');
    this.refusedFuture = options.metrics.state.refused.labels('future');
    this.refusedConflicting = options.metrics.state.refused.labels('conflicting_repeat');
  }

  get store(): StateStore {
    return this.options.store;
  }

  /**
   * Records the transactions, handing each one's history to `use`. A late
   * transaction is never recorded; when the model reads history (`needsHistory`)
   * it fails the call with INVALID_ARGUMENT and nothing of the call is
   * recorded, since its features would be wrong. A model that does not read
   * history can still score it: the indexes of those left out are returned.
   * A transaction id already recorded (same customer and terminal) with
   * another amount or event time fails the call with ALREADY_EXISTS, nothing
   * of it recorded, whatever the model.
   */
  async record(transactions: readonly Transaction[], batch: boolean, needsHistory: boolean, use: HistoryConsumer): Promise<readonly number[]> {
    const { store, epochSeconds, latenessSeconds, maxFutureSeconds } = this.options;
    const latest = this.now() / 1000 + maxFutureSeconds;
    const events = new Array<TransactionEvent>(transactions.length);
    let violations: ViolationList | undefined;
    for (let index = 0; index < transactions.length; index++) {
      const transaction = transactions[index] as Transaction;
      const time = eventTimeSeconds(transaction, epochSeconds);
      if (time > latest) {
        violations ??= new ViolationList();
        violations
          .at(batch ? index : 'transaction')
          .add(timeField(transaction), `is ${iso(time)}, more than ${maxFutureSeconds} s ahead of the service's clock (FRAUD_STATE_MAX_FUTURE_SECONDS)`);
      }
      events[index] = {
        id: transaction.transactionId ?? 0n,
        customerId: transaction.customerId ?? 0n,
        terminalId: transaction.terminalId ?? 0n,
        amount: transaction.txAmount ?? 0,
        time,
      };
    }
    if (violations !== undefined) {
      this.refusedFuture.inc(violations.items.length);
      throw new InvalidArgumentError(violations.items);
    }
    const duplicates = this.options.metrics.state.duplicates;
    const started = performance.now();
    let late;
    try {
      late = await store.record(
        events,
        (index, history) => {
          if (history.duplicate) duplicates.inc();
          use(index, history);
        },
        { allOrNothing: needsHistory },
      );
    } catch (error) {
      if (!(error instanceof ConflictingRepeatError)) throw error;
      this.refusedConflicting.inc(error.conflicts.length);
      throw new AlreadyRecordedError(error.conflicts.flatMap((conflict) => conflictViolations(conflict, transactions[conflict.index] as Transaction, batch)));
    }
    this.duration.observe((performance.now() - started) / 1000);
    if (late.length === 0) return [];
    this.refusedLate.inc(late.length);
    if (!needsHistory) return late.map(({ index }) => index);
    const lateViolations = new ViolationList();
    for (const { index, earliestAccepted } of late) {
      const transaction = transactions[index] as Transaction;
      lateViolations
        .at(batch ? index : 'transaction')
        .add(
          timeField(transaction),
          `is ${iso((events[index] as TransactionEvent).time)}, older than the lateness allows: the earliest event time accepted for customer ${String(transaction.customerId)} is ${iso(earliestAccepted)} (${latenessSeconds} s behind its newest transaction; FRAUD_STATE_LATENESS_SECONDS)`,
        );
    }
    throw new InvalidArgumentError(lateViolations.items);
  }
}

/** One violation per differing field of a conflicting repeat, with the recorded value and the one sent. */
function conflictViolations(conflict: RepeatConflict, transaction: Transaction, batch: boolean): FieldViolation[] {
  const prefix = batch ? `transactions[${conflict.index}]` : 'transaction';
  const id = `transaction ${conflict.transactionId} is already recorded for this customer and terminal`;
  const advice = 'a retry must send the recorded fields again; another transaction needs its own transaction_id';
  return conflict.fields.map((field) =>
    field === 'amount'
      ? { field: `${prefix}.tx_amount`, description: `${id} with tx_amount ${conflict.recorded.amount}, not ${conflict.sent.amount}: ${advice}` }
      : { field: `${prefix}.${timeField(transaction)}`, description: `${id} with event time ${iso(conflict.recorded.time)}, not ${iso(conflict.sent.time)}: ${advice}` },
  );
}

function timeField(transaction: Transaction): string {
  return transaction.txDatetime === undefined ? 'tx_time_seconds' : 'tx_datetime';
}

function iso(unixSeconds: number): string {
  const date = new Date(unixSeconds * 1000);
  return Number.isNaN(date.getTime()) ? `${unixSeconds} (Unix seconds)` : date.toISOString();
}

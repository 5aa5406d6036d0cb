import { dayOf } from '../features/entityHistory.js';
import { keyOf, type EntityKey } from './entityKey.js';
import { SegmentedEviction, type Segment, type StoredEntityRecord } from './entityEviction.js';
import { EntityMap } from './entityMap.js';
import { EntitySweep, type SweepClock } from './entitySweep.js';
import { ConflictingRepeatError, conflictingRepeats } from './conflictingRepeats.js';
import { CustomerRecord, TerminalRecord, entityBytes, retentionSeconds, type Retention } from './entityRecords.js';
import {
  beforeTransactionMessage,
  conflictingOutcomeMessage,
  correctedOutcomeMessage,
  duplicateOutcomeMessage,
  outOfOrderCorrectionMessage,
  tooManyCorrectionsMessage,
  unknownTransactionMessage,
} from './outcomeMessages.js';
import type { JoinedScores, ModelScore, ScoresNotKept, TransactionScores } from './modelScores.js';
import { ScoredModelCodes } from './scoreColumns.js';
import { TransactionIndex, type IndexedTransaction } from './transactionIndex.js';
import {
  MAX_CORRECTIONS,
  type HistoryConsumer,
  type LateTransaction,
  type OutcomeReport,
  type OutcomeResult,
  type RecordOptions,
  type StateStore,
  type TransactionEvent,
} from './stateStore.js';

export { idOf, keyOf, type EntityKey } from './entityKey.js';

export type EvictedKind = 'customer' | 'terminal' | 'transaction';

export interface MemoryStateStoreOptions {
  readonly latenessSeconds: number;
  /** Days of history the features read back from a transaction's day (window + delay), per entity kind. */
  readonly historyDays: { readonly customer: number; readonly terminal: number };
  /** Customers plus terminals kept; beyond it entities go in the order of entityEviction.ts. */
  readonly maxEntities: number;
  /** Transactions remembered for outcomes; beyond it the oldest are forgotten. */
  readonly maxTransactions: number;
  /** Told of each eviction forced by a limit (not of expiry, which is normal); entities say their segment. */
  readonly onEvicted?: (kind: EvictedKind, count: number, segment?: Segment) => void;
  /** Told of each retry recognised by its card only, after the transaction index had forgotten it (counted once all the same). */
  readonly onForgottenRetry?: () => void;
  /** Told of scores keepScores did not keep, and why. */
  readonly onScoresNotKept?: ScoresNotKept;
}

export interface StateStats {
  readonly customers: number;
  readonly terminals: number;
  readonly transactions: number;
  /** Approximate bytes held, by kind. */
  readonly bytes: { readonly customer: number; readonly terminal: number; readonly transaction: number };
  /** Newest event time recorded for any customer, Unix seconds (-Infinity before the first). */
  readonly watermark: number;
  /** Customers plus terminals by eviction segment. */
  readonly segments: { readonly probation: number; readonly established: number };
}

/**
 * A snapshot being written (stateSnapshot.ts). The store tells it of every
 * change before it happens, so that it writes the store as it was when it
 * began: a point-in-time view, without stopping calls while it is written.
 */
export interface SnapshotCapture {
  /** Set by the store when the snapshot begins: entities created before have a lower snapshotEpoch. */
  epoch: number;
  /** Writes an entity as it is now, before it changes or goes (and sets its snapshotEpoch). */
  save(entity: StoredEntityRecord): void;
  /** A transaction first remembered after the snapshot began: it is left out. */
  added(id: bigint): void;
  /** An outcome about to be set after the snapshot began: the transaction is written as it was before (its first change only). */
  outcomeSet(id: bigint, before: IndexedTransaction): void;
}

const OUTCOME_CODES = { fraud: 1, legitimate: 2 } as const;
const OUTCOME_NAMES = { 1: 'fraud', 2: 'legitimate' } as const;

/**
 * The embedded state store: customer and terminal history in this process's
 * memory, bounded by retention (state older than the longest window plus the
 * delay and the lateness is dropped) and by entity and transaction limits
 * (entities with few transactions go first, see entityEviction.ts; the oldest
 * remembered transactions go first). Snapshots are another module's job; this
 * one exposes its content and its changes for them.
 */
export class MemoryStateStore implements StateStore {
  readonly kind = 'memory';
  readonly customers = new EntityMap<CustomerRecord>();
  readonly terminals = new EntityMap<TerminalRecord>();
  /** Every recorded transaction within retention, for repeats and outcomes (sized for the limit: no doubling on the way there). */
  readonly transactions: TransactionIndex;
  /** The model revisions whose scores transactions keep, by the code the index holds. */
  readonly models = new ScoredModelCodes();
  watermark = Number.NEGATIVE_INFINITY;
  private readonly eviction: SegmentedEviction;
  /** Numbers the customers and the terminals hold between them, kept as they change (the size metric reads them). */
  private readonly held = { customer: 0, terminal: 0 };
  /** Drops expired entities and reclassifies the rest, a few per call (entitySweep.ts). */
  private readonly sweep = new EntitySweep([...this.customers.shards, ...this.terminals.shards], (entity, reclassify) => {
    this.visit(entity, reclassify);
  });
  /** The snapshot being written, if any, and the epoch of the last one begun. */
  private capture: SnapshotCapture | undefined;
  private epoch = 0;

  private readonly customerRetention: Retention;
  private readonly terminalRetention: Retention;

  constructor(private readonly options: MemoryStateStoreOptions) {
    this.customerRetention = { latenessSeconds: options.latenessSeconds, days: options.historyDays.customer };
    this.terminalRetention = { latenessSeconds: options.latenessSeconds, days: options.historyDays.terminal };
    this.eviction = new SegmentedEviction(options.maxEntities);
    this.transactions = new TransactionIndex(options.maxTransactions);
  }

  record(transactions: readonly TransactionEvent[], use: HistoryConsumer, options: RecordOptions): Promise<readonly LateTransaction[]> {
    const conflicts = conflictingRepeats(transactions, (event) => this.transactions.get(event.id));
    if (conflicts.length > 0) return Promise.reject(new ConflictingRepeatError(conflicts));
    const late = this.lateTransactions(transactions);
    if (late.length > 0 && options.allOrNothing) return Promise.resolve(late);
    let nextLate = 0;
    for (let index = 0; index < transactions.length; index++) {
      if (late[nextLate]?.index === index) {
        nextLate++;
        continue;
      }
      const event = transactions[index] as TransactionEvent;
      const customerKey = keyOf(event.customerId);
      const terminalKey = keyOf(event.terminalId);
      let customer = this.customers.get(customerKey);
      const newCustomer = customer === undefined;
      if (customer === undefined) this.customers.set(customerKey, (customer = new CustomerRecord(customerKey, this.epoch)));
      let terminal = this.terminals.get(terminalKey);
      const newTerminal = terminal === undefined;
      if (terminal === undefined) this.terminals.set(terminalKey, (terminal = new TerminalRecord(terminalKey, this.epoch)));
      let repeat = this.transactions.isRepeat(event.id, event.customerId, event.terminalId);
      let terminalRecorded = false;
      // A repeat adds nothing, for the customer either (one older than the lateness is folded already).
      if (!repeat) {
        const known = this.transactions.has(event.id);
        this.beforeChange(customer);
        // The card still holds an id the index no longer knows: a retry whose entry the count limit forgot.
        const customerHeld = customer.numbers;
        const forgottenRetry = !customer.record(event.id, event.time, event.amount, this.customerRetention) && !known;
        this.held.customer += customer.numbers - customerHeld;
        if (forgottenRetry) this.options.onForgottenRetry?.();
        // An id reused at another terminal counts there too, once.
        else if (!this.transactions.isAtTerminal(event.id, event.terminalId)) {
          this.beforeChange(terminal);
          const terminalHeld = terminal.numbers;
          terminal.record(event.time, this.terminalRetention);
          this.held.terminal += terminal.numbers - terminalHeld;
          terminalRecorded = true;
        }
        if (this.capture !== undefined && !known) this.capture.added(event.id);
        this.transactions.add(event.id, event.customerId, event.terminalId, event.time, event.amount);
        repeat = forgottenRetry;
      }
      if (!repeat || newCustomer) this.eviction.recorded(customer);
      if (terminalRecorded || newTerminal) this.eviction.recorded(terminal);
      if (event.time > this.watermark) this.watermark = event.time;
      use(index, { customer, terminal, duplicate: repeat });
    }
    this.enforceLimits(transactions.length - late.length);
    return Promise.resolve(late);
  }

  /**
   * The transactions of a batch that are late, in order: not repeats of
   * recorded ones, and earlier than their customer's newest transaction (the
   * batch's own earlier ones included) minus the lateness.
   */
  private lateTransactions(transactions: readonly TransactionEvent[]): LateTransaction[] {
    const { latenessSeconds } = this.options;
    let late: LateTransaction[] | undefined;
    // The batch's own newest time per customer, only needed when a batch has several transactions.
    const newest = transactions.length > 1 ? new Map<EntityKey, number>() : undefined;
    for (let index = 0; index < transactions.length; index++) {
      const event = transactions[index] as TransactionEvent;
      const customerKey = keyOf(event.customerId);
      const watermark = Math.max(
        this.customers.get(customerKey)?.watermark ?? Number.NEGATIVE_INFINITY,
        newest?.get(customerKey) ?? Number.NEGATIVE_INFINITY,
      );
      if (event.time >= watermark - latenessSeconds) {
        if (event.time > watermark) newest?.set(customerKey, event.time);
        continue;
      }
      if (this.transactions.isRepeat(event.id, event.customerId, event.terminalId)) continue;
      (late ??= []).push({ index, earliestAccepted: watermark - latenessSeconds });
    }
    return late ?? [];
  }

  reportOutcomes(reports: readonly OutcomeReport[]): Promise<OutcomeResult[]> {
    return Promise.resolve(
      reports.map((report) => {
        const result = this.reportOutcome(report);
        return result.status === 'applied' || result.status === 'corrected' ? { ...result, joined: this.joined(report.transactionId) } : result;
      }),
    );
  }

  /**
   * Keeps each item's scores with its remembered transaction (the first
   * recording of its id, for this customer and terminal): the first score of
   * a model revision stands, at most MAX_SCORED_MODELS_PER_TRANSACTION
   * revisions per transaction. What is not kept is counted, never thrown.
   */
  keepScores(items: readonly TransactionScores[]): Promise<void> {
    const notKept = { unknown_transaction: 0, reused_id: 0, too_many_models: 0 };
    for (const item of items) {
      for (const score of item.scores) {
        const code = this.models.codeOf(score.model);
        if (code === undefined) {
          notKept.too_many_models++;
          continue;
        }
        const kept = this.transactions.keepScore(item.transactionId, item.customerId, item.terminalId, code, score.fraudProbability, score.alerted);
        if (kept === 'unknown') notKept.unknown_transaction++;
        else if (kept === 'reused') notKept.reused_id++;
        else if (kept === 'full') notKept.too_many_models++;
      }
    }
    for (const [reason, count] of Object.entries(notKept) as [keyof typeof notKept, number][]) if (count > 0) this.options.onScoresNotKept?.(reason, count);
    return Promise.resolve();
  }

  /** The event time and kept scores of a remembered transaction, for an applied or corrected outcome. */
  private joined(id: bigint): JoinedScores | undefined {
    const recorded = this.transactions.get(id);
    if (recorded === undefined) return undefined;
    const scores = this.transactions.scoresOf(id).map(
      (score): ModelScore => ({ model: this.models.model(score.code), fraudProbability: score.probability, alerted: score.alerted }),
    );
    return { eventTime: recorded.time, scores };
  }

  /** One outcome, by the statuses and order of models/feature-spec.json's history.rules (outcomes, corrections). */
  private reportOutcome(report: OutcomeReport): OutcomeResult {
    const recorded = this.transactions.get(report.transactionId);
    if (recorded === undefined) return { status: 'unknown_transaction', message: unknownTransactionMessage(report.transactionId) };
    if (report.knownAt < recorded.time) return { status: 'before_transaction', message: beforeTransactionMessage(report.knownAt, recorded.time) };
    const code = OUTCOME_CODES[report.outcome];
    if (recorded.outcome === 0) {
      this.setOutcome(report, recorded, code, 0);
      if (code === OUTCOME_CODES.fraud) this.addFraud(this.terminalOf(recorded), dayOf(recorded.time), report.knownAt);
      return { status: 'applied', message: '' };
    }
    const inForce = OUTCOME_NAMES[recorded.outcome];
    if (recorded.outcome === code) return { status: 'duplicate', message: duplicateOutcomeMessage(recorded.knownAt) };
    if (report.supersedes !== true) return { status: 'conflict', message: conflictingOutcomeMessage(report.transactionId, inForce, recorded.knownAt) };
    if (report.knownAt < recorded.knownAt) return { status: 'out_of_order', message: outOfOrderCorrectionMessage(inForce, recorded.knownAt) };
    if (recorded.corrections >= MAX_CORRECTIONS) return { status: 'too_many_corrections', message: tooManyCorrectionsMessage(report.transactionId, MAX_CORRECTIONS) };
    this.setOutcome(report, recorded, code, recorded.corrections + 1);
    const terminal = this.terminalOf(recorded);
    const day = dayOf(recorded.time);
    // The fraud in force ends where the correction begins; a correction to fraud adds one from its known_at.
    if (code === OUTCOME_CODES.fraud) this.addFraud(terminal, day, report.knownAt);
    else terminal?.endFraud(day, recorded.knownAt, report.knownAt);
    return {
      status: 'corrected',
      message: correctedOutcomeMessage(report.transactionId, inForce, recorded.knownAt, report.knownAt),
      replaced: { outcome: inForce, knownAt: recorded.knownAt },
    };
  }

  private setOutcome(report: OutcomeReport, recorded: IndexedTransaction, code: 1 | 2, corrections: number): void {
    this.capture?.outcomeSet(report.transactionId, recorded);
    this.transactions.setOutcome(report.transactionId, code, report.knownAt, corrections);
  }

  /** A confirmed fraud at a terminal still kept (none when it is gone), counted in what the terminals hold. */
  private addFraud(terminal: TerminalRecord | undefined, day: number, knownAt: number): void {
    if (terminal === undefined) return;
    const held = terminal.numbers;
    terminal.addFraud(day, knownAt);
    this.held.terminal += terminal.numbers - held;
  }

  /** The terminal of a remembered transaction, about to change (a snapshot being written saves it first). */
  private terminalOf(recorded: IndexedTransaction): TerminalRecord | undefined {
    const terminal = this.terminals.get(keyOf(recorded.terminalId));
    if (terminal !== undefined) this.beforeChange(terminal);
    return terminal;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  stats(): StateStats {
    const bytes = {
      customer: entityBytes('customer', this.customers.size, this.held.customer),
      terminal: entityBytes('terminal', this.terminals.size, this.held.terminal),
      transaction: this.transactions.bytes,
    };
    const segments = { probation: this.eviction.probationSize, established: this.eviction.establishedSize };
    return { customers: this.customers.size, terminals: this.terminals.size, transactions: this.transactions.size, bytes, watermark: this.watermark, segments };
  }

  /**
   * Starts telling `capture` of every change until endCapture, and gives it
   * its epoch: entities created from now on carry it (they are not in it).
   */
  beginCapture(capture: SnapshotCapture): void {
    if (this.capture !== undefined) throw new Error('a snapshot is already being written');
    capture.epoch = ++this.epoch;
    this.capture = capture;
  }

  endCapture(): void {
    this.capture = undefined;
  }

  /** Places restored entities in the eviction order, the least recently recorded first. */
  restored(): void {
    this.held.customer = 0;
    this.held.terminal = 0;
    for (const customer of this.customers.values()) this.held.customer += customer.numbers;
    for (const terminal of this.terminals.values()) this.held.terminal += terminal.numbers;
    const entities: StoredEntityRecord[] = [...this.customers.values(), ...this.terminals.values()];
    entities.sort((one, other) => one.watermark - other.watermark);
    for (const entity of entities) this.eviction.restored(entity, this.firstKeptDay(entity));
  }

  /** Before an entity changes or goes: a snapshot being written saves it first, if it has not yet. */
  private beforeChange(entity: StoredEntityRecord): void {
    if (this.capture !== undefined && entity.snapshotEpoch < this.capture.epoch) this.capture.save(entity);
  }

  /** The first day an entity's features can still read, as of the store's newest transaction. */
  private firstKeptDay(entity: StoredEntityRecord): number {
    const retention = entity instanceof CustomerRecord ? this.customerRetention : this.terminalRetention;
    return dayOf(this.watermark - retention.latenessSeconds) - retention.days;
  }

  /**
   * Drops what retention says can never count again, then what the limits do
   * not allow. Transactions are in recording order, so they go from the
   * front (not while a snapshot reads them in that order: they wait for its
   * end). Entities are swept for expiry a few at a time (entitySweep.ts);
   * over the limit, they go in the order entityEviction.ts gives, expired
   * ones before any established one.
   */
  private enforceLimits(recorded: number): void {
    const { maxEntities, maxTransactions, onEvicted } = this.options;
    if (this.capture === undefined) {
      const evictedTransactions = this.transactions.forget(this.watermark - retentionSeconds(this.terminalRetention), maxTransactions);
      if (evictedTransactions > 0) onEvicted?.('transaction', evictedTransactions);
    }
    this.sweep.step(this.sweepClock(), recorded);
    if (this.customers.size + this.terminals.size <= maxEntities) return;
    const evicted = { probation: { customer: 0, terminal: 0 }, established: { customer: 0, terminal: 0 } };
    let swept = false;
    while (this.customers.size + this.terminals.size > maxEntities) {
      const victim = this.eviction.victim();
      if (victim === undefined) break;
      if (victim.segment === 'established' && !swept) {
        this.sweep.finish(this.sweepClock());
        swept = true;
        continue;
      }
      const { entity, segment } = victim;
      evicted[segment][entity instanceof CustomerRecord ? 'customer' : 'terminal']++;
      this.remove(entity);
    }
    for (const segment of ['probation', 'established'] as const) {
      for (const kind of ['customer', 'terminal'] as const) {
        const count = evicted[segment][kind];
        if (count > 0) onEvicted?.(kind, count, segment);
      }
    }
  }

  private sweepClock(): SweepClock {
    return { watermark: this.watermark, day: dayOf(this.watermark - this.options.latenessSeconds) };
  }

  /** One step of the sweep: drops an entity whose newest event is older than its retention, or reclassifies it. */
  private visit(entity: StoredEntityRecord, reclassify: boolean): void {
    const retention = entity instanceof CustomerRecord ? this.customerRetention : this.terminalRetention;
    if (entity.watermark < this.watermark - retentionSeconds(retention)) this.remove(entity);
    else if (reclassify) this.eviction.reclassify(entity, this.firstKeptDay(entity));
  }

  private remove(entity: StoredEntityRecord): void {
    this.beforeChange(entity);
    if (entity instanceof CustomerRecord) {
      this.customers.delete(entity.key);
      this.held.customer -= entity.numbers;
    } else {
      this.terminals.delete(entity.key);
      this.held.terminal -= entity.numbers;
    }
    this.eviction.removed(entity);
  }
}


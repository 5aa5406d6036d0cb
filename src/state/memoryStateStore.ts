import { dayOf } from '../features/entityHistory.js';
import { CustomerRecord, TerminalRecord, retentionSeconds, type Retention } from './entityRecords.js';
import type {
  HistoryConsumer,
  LateTransaction,
  OutcomeReport,
  OutcomeResult,
  StateStore,
  TransactionEvent,
} from './stateStore.js';

/** What the store remembers of each recorded transaction, so outcomes can find its terminal and day. */
export interface RecordedTransaction {
  readonly customerId: bigint;
  readonly terminalId: bigint;
  readonly time: number;
  /** 0: no outcome yet, 1: fraud, 2: legitimate. */
  outcome: 0 | 1 | 2;
  knownAt: number;
}

export interface MemoryStateStoreOptions {
  readonly latenessSeconds: number;
  /** Days of history the features read back from a transaction's day (window + delay), per entity kind. */
  readonly historyDays: { readonly customer: number; readonly terminal: number };
  /** Customers plus terminals kept; beyond it the least recently active are evicted. */
  readonly maxEntities: number;
  /** Transactions remembered for outcomes; beyond it the oldest are forgotten. */
  readonly maxTransactions: number;
  /** Told of each eviction forced by a limit (not of expiry, which is normal). */
  readonly onEvicted?: (kind: 'customer' | 'terminal' | 'transaction', count: number) => void;
}

export interface StateStats {
  readonly customers: number;
  readonly terminals: number;
  readonly transactions: number;
  /** Approximate bytes of history held. */
  readonly bytes: number;
  /** Newest event time recorded for any customer, Unix seconds (-Infinity before the first). */
  readonly watermark: number;
}

const OUTCOME_CODES = { fraud: 1, legitimate: 2 } as const;
const OUTCOME_NAMES = ['', 'fraud', 'legitimate'] as const;

/**
 * The embedded state store: customer and terminal history in this process's
 * memory, bounded by retention (state older than the longest window plus the
 * delay and the lateness is dropped) and by entity and transaction limits
 * (least recently active first). Snapshots are another module's job; this one
 * exposes its content for them.
 */
export class MemoryStateStore implements StateStore {
  readonly kind = 'memory';
  readonly customers = new Map<bigint, CustomerRecord>();
  readonly terminals = new Map<bigint, TerminalRecord>();
  /** In recording order, so the oldest are first to go. */
  readonly transactions = new Map<bigint, RecordedTransaction>();
  watermark = Number.NEGATIVE_INFINITY;

  private readonly customerRetention: Retention;
  private readonly terminalRetention: Retention;

  constructor(private readonly options: MemoryStateStoreOptions) {
    this.customerRetention = { latenessSeconds: options.latenessSeconds, days: options.historyDays.customer };
    this.terminalRetention = { latenessSeconds: options.latenessSeconds, days: options.historyDays.terminal };
  }

  record(transactions: readonly TransactionEvent[], use: HistoryConsumer): Promise<readonly LateTransaction[]> {
    const late = this.lateTransactions(transactions);
    if (late.length > 0) return Promise.resolve(late);
    for (let index = 0; index < transactions.length; index++) {
      const event = transactions[index] as TransactionEvent;
      const customer = touch(this.customers, event.customerId, () => new CustomerRecord());
      const terminal = touch(this.terminals, event.terminalId, () => new TerminalRecord());
      const recorded = this.transactions.get(event.id);
      const repeat = recorded !== undefined && recorded.customerId === event.customerId && recorded.terminalId === event.terminalId;
      // A repeat older than the lateness is folded already: nothing to add for the customer either.
      const newForCustomer = !repeat && customer.record(event.id, event.time, event.amount, this.customerRetention);
      if (!repeat && recorded?.terminalId !== event.terminalId) terminal.record(event.time, this.terminalRetention);
      if (recorded === undefined) {
        this.transactions.set(event.id, { customerId: event.customerId, terminalId: event.terminalId, time: event.time, outcome: 0, knownAt: 0 });
      }
      if (event.time > this.watermark) this.watermark = event.time;
      use(index, { customer, terminal, duplicate: repeat || !newForCustomer });
    }
    this.enforceLimits();
    return Promise.resolve([]);
  }

  /**
   * The transactions of a batch that are late: not repeats of recorded ones,
   * and earlier than their customer's newest transaction (the batch's own
   * earlier ones included) minus the lateness. A batch is all or nothing.
   */
  private lateTransactions(transactions: readonly TransactionEvent[]): LateTransaction[] {
    const { latenessSeconds } = this.options;
    const late: LateTransaction[] = [];
    const newest = new Map<bigint, number>();
    for (let index = 0; index < transactions.length; index++) {
      const event = transactions[index] as TransactionEvent;
      const recorded = this.transactions.get(event.id);
      if (recorded !== undefined && recorded.customerId === event.customerId && recorded.terminalId === event.terminalId) continue;
      const watermark = Math.max(this.customers.get(event.customerId)?.watermark ?? Number.NEGATIVE_INFINITY, newest.get(event.customerId) ?? Number.NEGATIVE_INFINITY);
      if (event.time < watermark - latenessSeconds) late.push({ index, earliestAccepted: watermark - latenessSeconds });
      else if (event.time > watermark) newest.set(event.customerId, event.time);
    }
    return late;
  }

  reportOutcomes(reports: readonly OutcomeReport[]): Promise<OutcomeResult[]> {
    return Promise.resolve(reports.map((report) => this.reportOutcome(report)));
  }

  private reportOutcome(report: OutcomeReport): OutcomeResult {
    const recorded = this.transactions.get(report.transactionId);
    if (recorded === undefined) {
      return { status: 'unknown_transaction', message: `transaction ${report.transactionId} is not recorded (never scored here, or older than the history kept)` };
    }
    if (report.knownAt < recorded.time) {
      return {
        status: 'before_transaction',
        message: `known_at ${isoTime(report.knownAt)} is before the transaction's event time ${isoTime(recorded.time)}`,
      };
    }
    const code = OUTCOME_CODES[report.outcome];
    if (recorded.outcome === code) return { status: 'duplicate', message: `this outcome was already reported (known at ${isoTime(recorded.knownAt)})` };
    if (recorded.outcome !== 0) {
      return {
        status: 'conflict',
        message: `transaction ${report.transactionId} was already reported ${OUTCOME_NAMES[recorded.outcome]} (known at ${isoTime(recorded.knownAt)}); that report stays`,
      };
    }
    recorded.outcome = code;
    recorded.knownAt = report.knownAt;
    if (code === OUTCOME_CODES.fraud) this.terminals.get(recorded.terminalId)?.addFraud(dayOf(recorded.time), report.knownAt);
    return { status: 'applied', message: '' };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  stats(): StateStats {
    let bytes = 0;
    for (const customer of this.customers.values()) bytes += customer.bytes + 64;
    for (const terminal of this.terminals.values()) bytes += terminal.bytes + 64;
    bytes += this.transactions.size * 96;
    return { customers: this.customers.size, terminals: this.terminals.size, transactions: this.transactions.size, bytes, watermark: this.watermark };
  }

  /**
   * Drops what retention says can never count again, then what the limits do
   * not allow. Maps are in least-recently-active order (see `touch`), so both
   * walk from the front and stop at the first entity still needed.
   */
  private enforceLimits(): void {
    const { maxEntities, maxTransactions, onEvicted } = this.options;
    const customerHorizon = this.watermark - retentionSeconds(this.customerRetention);
    const terminalHorizon = this.watermark - retentionSeconds(this.terminalRetention);
    const evictedCustomers = trim(this.customers, customerHorizon, () => this.customers.size + this.terminals.size > maxEntities);
    const evictedTerminals = trim(this.terminals, terminalHorizon, () => this.customers.size + this.terminals.size > maxEntities);
    let evictedTransactions = 0;
    for (const [id, recorded] of this.transactions) {
      const expired = recorded.time < terminalHorizon;
      if (!expired && this.transactions.size <= maxTransactions) break;
      this.transactions.delete(id);
      if (!expired) evictedTransactions++;
    }
    if (evictedCustomers > 0) onEvicted?.('customer', evictedCustomers);
    if (evictedTerminals > 0) onEvicted?.('terminal', evictedTerminals);
    if (evictedTransactions > 0) onEvicted?.('transaction', evictedTransactions);
  }
}

/** The entity under `key`, moved to the back of the map (most recently active), created if missing. */
function touch<Entity>(map: Map<bigint, Entity>, key: bigint, create: () => Entity): Entity {
  const entity = map.get(key);
  if (entity === undefined) {
    const created = create();
    map.set(key, created);
    return created;
  }
  map.delete(key);
  map.set(key, entity);
  return entity;
}

/** Removes expired entities from the front, and more while `over()`; returns how many went for `over()`. */
function trim(map: Map<bigint, { watermark: number }>, horizon: number, over: () => boolean): number {
  let evicted = 0;
  for (const [key, entity] of map) {
    const expired = entity.watermark < horizon;
    if (!expired && !over()) break;
    map.delete(key);
    if (!expired) evicted++;
  }
  return evicted;
}

function isoTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString();
}

import { dayOf } from '../features/entityHistory.js';
import { CustomerRecord, TerminalRecord, retentionSeconds, type Retention } from './entityRecords.js';
import { TransactionIndex } from './transactionIndex.js';
import type {
  HistoryConsumer,
  LateTransaction,
  OutcomeReport,
  OutcomeResult,
  RecordOptions,
  StateStore,
  TransactionEvent,
} from './stateStore.js';

export interface MemoryStateStoreOptions {
  readonly latenessSeconds: number;
  /** Days of history the features read back from a transaction's day (window + delay), per entity kind. */
  readonly historyDays: { readonly customer: number; readonly terminal: number };
  /** Customers plus terminals kept; beyond it those whose newest transaction is oldest are evicted. */
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
  /** Approximate bytes held, by kind. */
  readonly bytes: { readonly customer: number; readonly terminal: number; readonly transaction: number };
  /** Newest event time recorded for any customer, Unix seconds (-Infinity before the first). */
  readonly watermark: number;
}

/**
 * Map key of an id: a number when exact (ids below 2^53, the common case, and
 * much faster to hash than a bigint), else its decimal text.
 */
export type EntityKey = number | string;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export function keyOf(id: bigint): EntityKey {
  return id <= MAX_SAFE ? Number(id) : id.toString();
}

/** The id a key stands for. */
export function idOf(key: EntityKey): bigint {
  return BigInt(key);
}

const OUTCOME_CODES = { fraud: 1, legitimate: 2 } as const;
const OUTCOME_NAMES = ['', 'fraud', 'legitimate'] as const;

/** Event-time seconds between sweeps for expired entities. */
const SWEEP_EVERY_SECONDS = 3_600;

/**
 * The embedded state store: customer and terminal history in this process's
 * memory, bounded by retention (state older than the longest window plus the
 * delay and the lateness is dropped) and by entity and transaction limits
 * (those whose newest transaction is oldest go first). Snapshots are another
 * module's job; this one exposes its content for them.
 */
export class MemoryStateStore implements StateStore {
  readonly kind = 'memory';
  readonly customers = new Map<EntityKey, CustomerRecord>();
  readonly terminals = new Map<EntityKey, TerminalRecord>();
  /** Every recorded transaction within retention, for repeats and outcomes. */
  readonly transactions = new TransactionIndex();
  watermark = Number.NEGATIVE_INFINITY;
  /** Event time of the last sweep for expired entities. */
  private sweptAt = Number.NEGATIVE_INFINITY;

  private readonly customerRetention: Retention;
  private readonly terminalRetention: Retention;

  constructor(private readonly options: MemoryStateStoreOptions) {
    this.customerRetention = { latenessSeconds: options.latenessSeconds, days: options.historyDays.customer };
    this.terminalRetention = { latenessSeconds: options.latenessSeconds, days: options.historyDays.terminal };
  }

  record(transactions: readonly TransactionEvent[], use: HistoryConsumer, options: RecordOptions): Promise<readonly LateTransaction[]> {
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
      if (customer === undefined) this.customers.set(customerKey, (customer = new CustomerRecord()));
      let terminal = this.terminals.get(terminalKey);
      if (terminal === undefined) this.terminals.set(terminalKey, (terminal = new TerminalRecord()));
      const repeat = this.transactions.isRepeat(event.id, event.customerId, event.terminalId);
      // A repeat older than the lateness is folded already: nothing to add for the customer either.
      if (!repeat) customer.record(event.id, event.time, event.amount, this.customerRetention);
      if (!repeat) {
        // An id reused at another terminal counts there too, once.
        if (!this.transactions.isAtTerminal(event.id, event.terminalId)) terminal.record(event.time, this.terminalRetention);
        this.transactions.add(event.id, event.customerId, event.terminalId, event.time);
      }
      if (event.time > this.watermark) this.watermark = event.time;
      use(index, { customer, terminal, duplicate: repeat });
    }
    this.enforceLimits();
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
    this.transactions.setOutcome(report.transactionId, code, report.knownAt);
    if (code === OUTCOME_CODES.fraud) this.terminals.get(keyOf(recorded.terminalId))?.addFraud(dayOf(recorded.time), report.knownAt);
    return { status: 'applied', message: '' };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  stats(): StateStats {
    let customer = 0;
    let terminal = 0;
    for (const record of this.customers.values()) customer += record.bytes + ENTRY_BYTES;
    for (const record of this.terminals.values()) terminal += record.bytes + ENTRY_BYTES;
    const bytes = { customer, terminal, transaction: this.transactions.bytes };
    return { customers: this.customers.size, terminals: this.terminals.size, transactions: this.transactions.size, bytes, watermark: this.watermark };
  }

  /**
   * Drops what retention says can never count again, then what the limits do
   * not allow. Transactions are in recording order, so they go from the
   * front. Entities are swept for expiry once per hour of event time, or at
   * once when over the limit (then those whose newest transaction is oldest go).
   */
  private enforceLimits(): void {
    const { maxEntities, maxTransactions, onEvicted } = this.options;
    const terminalHorizon = this.watermark - retentionSeconds(this.terminalRetention);
    const evictedTransactions = this.transactions.forget(terminalHorizon, maxTransactions);
    if (evictedTransactions > 0) onEvicted?.('transaction', evictedTransactions);
    const over = this.customers.size + this.terminals.size > maxEntities;
    if (!over && this.watermark - this.sweptAt < SWEEP_EVERY_SECONDS) return;
    this.sweptAt = this.watermark;
    sweep(this.customers, this.watermark - retentionSeconds(this.customerRetention));
    sweep(this.terminals, terminalHorizon);
    const excess = this.customers.size + this.terminals.size - maxEntities;
    if (excess > 0) {
      const evicted = evictLeastRecent(this.customers, this.terminals, excess);
      if (evicted.customers > 0) onEvicted?.('customer', evicted.customers);
      if (evicted.terminals > 0) onEvicted?.('terminal', evicted.terminals);
    }
  }
}

/** Bytes of a map entry and its key, for the size estimate. */
const ENTRY_BYTES = 48;

/** Removes the entities whose newest event is older than `horizon`. */
function sweep(map: Map<EntityKey, { watermark: number }>, horizon: number): void {
  for (const [key, entity] of map) if (entity.watermark < horizon) map.delete(key);
}

/** Removes `count` entities (customers and terminals together), those whose newest transaction is oldest. */
function evictLeastRecent(
  customers: Map<EntityKey, { watermark: number }>,
  terminals: Map<EntityKey, { watermark: number }>,
  count: number,
): { customers: number; terminals: number } {
  const watermarks = new Float64Array(customers.size + terminals.size);
  let filled = 0;
  for (const entity of customers.values()) watermarks[filled++] = entity.watermark;
  for (const entity of terminals.values()) watermarks[filled++] = entity.watermark;
  watermarks.sort();
  const cutoff = watermarks[Math.min(count, watermarks.length) - 1] ?? Number.NEGATIVE_INFINITY;
  let left = count;
  const evict = (map: Map<EntityKey, { watermark: number }>): number => {
    let evicted = 0;
    for (const [key, entity] of map) {
      if (left === 0) break;
      if (entity.watermark > cutoff) continue;
      map.delete(key);
      evicted++;
      left--;
    }
    return evicted;
  };
  return { customers: evict(customers), terminals: evict(terminals) };
}

function isoTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString();
}

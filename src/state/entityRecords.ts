import {
  CUSTOMER_DAY_STRIDE,
  FRAUD_STRIDE,
  SECONDS_PER_DAY,
  TERMINAL_DAY_STRIDE,
  dayOf,
  type CustomerHistory,
  type RecentTransaction,
  type TerminalHistory,
} from '../features/entityHistory.js';
import type { EntityKey } from './entityKey.js';

/**
 * The in-memory history of one customer and of one terminal, with the update
 * rules of models/feature-spec.json's history.rules. Days are packed into
 * typed arrays (a few hundred bytes per entity), and each record is also the
 * read-only view the features are computed from.
 */

/**
 * Most transactions a customer keeps exactly (within the lateness of its
 * newest); beyond it the earliest in event time folds into its day
 * (models/feature-spec.json, history.rules). Real cards hold a few; the cap
 * bounds the work and memory of a client that sends thousands for one card
 * (every score reads them all). The Redis scripts keep the same cap.
 */
export const MAX_RECENT_TRANSACTIONS = 256;

/** How long state matters: the lateness, and the days of history the features read (window + delay). */
export interface Retention {
  readonly latenessSeconds: number;
  readonly days: number;
}

/** The first day still needed once an entity's newest event is at `watermark`. */
function firstKeptDay(watermark: number, retention: Retention): number {
  return dayOf(watermark - retention.latenessSeconds) - retention.days;
}

/** Seconds of event time after which an entity whose newest event is older holds nothing any accepted transaction reads. */
export function retentionSeconds(retention: Retention): number {
  return retention.latenessSeconds + (retention.days + 1) * SECONDS_PER_DAY;
}

/**
 * Resident bytes a typed array costs beyond its elements (its ArrayBuffer,
 * backing store and their bookkeeping outside the heap), and an entity's
 * object, map entries and the memory its growth leaves behind: measured by
 * RSS with bench/stateSizing.ts (Node 24), so fraud_state_bytes tracks what
 * the process really holds.
 */
const TYPED_ARRAY_BYTES = 620;
const CUSTOMER_BYTES = 1_650;
const TERMINAL_BYTES = 1_650;

/** Terminals without a confirmed fraud (most of them) share this empty array: a typed array costs hundreds of bytes even empty. */
const NO_FRAUDS = new Float64Array(0);

function grown(array: Float64Array, needed: number): Float64Array {
  if (needed <= array.length) return array;
  // Entities keep tens of days at most: grow in small steps, not by doubling.
  const next = new Float64Array(needed + Math.min(array.length, 8 * 4));
  next.set(array);
  return next;
}

/**
 * Days kept in ascending order, `stride` numbers each (the day first):
 * the entry of `day`, inserted (zeroed) where it belongs if missing. Time
 * mostly moves forward, so the day sought is most often the last one.
 */
function dayEntry(record: { days: Float64Array; dayCount: number }, day: number, stride: number): number {
  const { dayCount } = record;
  let position = dayCount;
  while (position > 0 && (record.days[(position - 1) * stride] as number) > day) position--;
  if (position > 0 && record.days[(position - 1) * stride] === day) return (position - 1) * stride;
  record.days = grown(record.days, (dayCount + 1) * stride);
  const base = position * stride;
  if (position < dayCount) record.days.copyWithin(base + stride, base, dayCount * stride);
  record.days.fill(0, base, base + stride);
  record.days[base] = day;
  record.dayCount = dayCount + 1;
  return base;
}

/** Drops the days before `firstDay` from ascending days; the oldest is first, so this is a check in the common case. */
function dropSortedDaysBefore(record: { days: Float64Array; dayCount: number }, stride: number, firstDay: number): void {
  let drop = 0;
  while (drop < record.dayCount && (record.days[drop * stride] as number) < firstDay) drop++;
  if (drop === 0) return;
  record.days.copyWithin(0, drop * stride, record.dayCount * stride);
  record.dayCount -= drop;
}

/** Removes the frauds (in report order) of days before `firstDay`; returns the new count. */
function dropFraudsBefore(frauds: Float64Array, count: number, firstDay: number): number {
  let kept = 0;
  for (let entry = 0; entry < count; entry++) {
    if ((frauds[entry * FRAUD_STRIDE] as number) < firstDay) continue;
    if (kept !== entry) frauds.copyWithin(kept * FRAUD_STRIDE, entry * FRAUD_STRIDE, (entry + 1) * FRAUD_STRIDE);
    kept++;
  }
  return kept;
}

/** Sums the transaction counts (second number of each day) of the days from `firstDay` on, newest first, stopping at `enough`. */
function countFrom(days: Float64Array, dayCount: number, stride: number, firstDay: number, enough: number): number {
  let count = 0;
  for (let base = (dayCount - 1) * stride; base >= 0 && count < enough && (days[base] as number) >= firstDay; base -= stride) count += days[base + 1] as number;
  return count;
}

/**
 * What the store keeps beside an entity's history: its key, its place in the
 * eviction order (entityEviction.ts) and the last snapshot that wrote it
 * (stateSnapshot.ts writes each entity as it was when the snapshot began).
 */
abstract class StoredEntity {
  /** Holds enough transactions to be evicted only after every newcomer (entityEviction.ts). */
  established = false;
  /** Established and recorded since the eviction order last passed it over (entityEviction.ts). */
  recentlyRecorded = false;
  /** The epoch of the last snapshot that wrote this entity, or began before it was created. */
  snapshotEpoch: number;

  constructor(
    readonly key: EntityKey,
    snapshotEpoch = 0,
  ) {
    this.snapshotEpoch = snapshotEpoch;
  }

  /** Transactions recorded on days from `firstDay` on (counting stops once it reaches `enough`). */
  abstract transactionsFrom(firstDay: number, enough?: number): number;
}

export class CustomerRecord extends StoredEntity implements CustomerHistory {
  days: Float64Array = new Float64Array(4 * CUSTOMER_DAY_STRIDE);
  dayCount = 0;
  recent: RecentTransaction[] = [];
  /** Newest event time recorded for this customer. */
  watermark = Number.NEGATIVE_INFINITY;

  transactionsFrom(firstDay: number, enough = Number.POSITIVE_INFINITY): number {
    let count = 0;
    for (const transaction of this.recent) if (dayOf(transaction.time) >= firstDay) count++;
    return count + countFrom(this.days, this.dayCount, CUSTOMER_DAY_STRIDE, firstDay, enough - count);
  }

  /** Records a transaction; false when the same id is already recorded (a duplicate), which changes nothing. */
  record(id: bigint, time: number, amount: number, retention: Retention): boolean {
    const { recent } = this;
    for (let index = 0; index < recent.length; index++) if ((recent[index] as RecentTransaction).id === id) return false;
    recent.push({ id, time, amount });
    if (time > this.watermark) {
      this.watermark = time;
      this.fold(retention);
    }
    if (recent.length > MAX_RECENT_TRANSACTIONS) this.foldEarliest();
    return true;
  }

  /** Folds the recent transaction with the earliest event time (the first recorded among equals) into its day. */
  private foldEarliest(): void {
    const { recent } = this;
    let earliest = 0;
    for (let index = 1; index < recent.length; index++) if ((recent[index] as RecentTransaction).time < (recent[earliest] as RecentTransaction).time) earliest = index;
    const [transaction] = recent.splice(earliest, 1) as [RecentTransaction];
    this.addToDay(dayOf(transaction.time), 1, transaction.amount, transaction.amount);
  }

  /**
   * Folds the recent transactions that no accepted transaction can precede
   * any more (older than the watermark minus the lateness) into their days,
   * and drops the days no window can reach.
   */
  private fold(retention: Retention): void {
    const horizon = this.watermark - retention.latenessSeconds;
    const { recent } = this;
    let kept = 0;
    for (let index = 0; index < recent.length; index++) {
      const transaction = recent[index] as RecentTransaction;
      if (transaction.time < horizon) this.addToDay(dayOf(transaction.time), 1, transaction.amount, transaction.amount);
      else recent[kept++] = transaction;
    }
    recent.length = kept;
    dropSortedDaysBefore(this, CUSTOMER_DAY_STRIDE, firstKeptDay(this.watermark, retention));
  }

  /** Adds to a day's aggregate (used by folding and by snapshot restore). */
  addToDay(day: number, count: number, sum: number, max: number): void {
    const base = dayEntry(this, day, CUSTOMER_DAY_STRIDE);
    const { days } = this;
    days[base + 1] = (days[base + 1] as number) + count;
    days[base + 2] = (days[base + 2] as number) + sum;
    if (max > (days[base + 3] as number)) days[base + 3] = max;
  }

  /** Approximate bytes held, for the state-size metric. */
  /** Resident bytes held, for the state-size metric. */
  get bytes(): number {
    return CUSTOMER_BYTES + TYPED_ARRAY_BYTES + this.days.byteLength + this.recent.length * 120;
  }
}

export class TerminalRecord extends StoredEntity implements TerminalHistory {
  days: Float64Array = new Float64Array(4 * TERMINAL_DAY_STRIDE);
  dayCount = 0;
  frauds: Float64Array = NO_FRAUDS;
  fraudCount = 0;
  watermark = Number.NEGATIVE_INFINITY;

  transactionsFrom(firstDay: number, enough = Number.POSITIVE_INFINITY): number {
    return countFrom(this.days, this.dayCount, TERMINAL_DAY_STRIDE, firstDay, enough);
  }

  /** Counts a transaction (the caller has ruled out a repeat) and drops the days no window can reach. */
  record(time: number, retention: Retention): void {
    this.addToDay(dayOf(time), 1);
    if (time <= this.watermark) return;
    this.watermark = time;
    const firstDay = firstKeptDay(time, retention);
    dropSortedDaysBefore(this, TERMINAL_DAY_STRIDE, firstDay);
    if (this.fraudCount > 0) this.fraudCount = dropFraudsBefore(this.frauds, this.fraudCount, firstDay);
  }

  /** Adds transactions to a day (used by recording and by snapshot restore). */
  addToDay(day: number, count: number): void {
    const base = dayEntry(this, day, TERMINAL_DAY_STRIDE);
    this.days[base + 1] = (this.days[base + 1] as number) + count;
  }

  /** A confirmed fraud among the transactions of `day`, known from `knownAt` on, until a correction known at `until`. */
  addFraud(day: number, knownAt: number, until = Number.POSITIVE_INFINITY): void {
    this.frauds = grown(this.frauds, (this.fraudCount + 1) * FRAUD_STRIDE);
    this.frauds[this.fraudCount * FRAUD_STRIDE] = day;
    this.frauds[this.fraudCount * FRAUD_STRIDE + 1] = knownAt;
    this.frauds[this.fraudCount * FRAUD_STRIDE + 2] = until;
    this.fraudCount++;
  }

  /**
   * Ends, from `until` on, a fraud in force of `day` known at `knownAt` (a
   * correction to legitimate). Frauds of the same day and known_at are
   * interchangeable for every feature, so any one of them is the one ended.
   * False when none is kept (its day is past retention).
   */
  endFraud(day: number, knownAt: number, until: number): boolean {
    const { frauds } = this;
    for (let base = 0; base < this.fraudCount * FRAUD_STRIDE; base += FRAUD_STRIDE) {
      if (frauds[base] === day && frauds[base + 1] === knownAt && frauds[base + 2] === Number.POSITIVE_INFINITY) {
        frauds[base + 2] = until;
        return true;
      }
    }
    return false;
  }

  /** Resident bytes held, for the state-size metric. */
  get bytes(): number {
    return TERMINAL_BYTES + TYPED_ARRAY_BYTES + this.days.byteLength + (this.frauds === NO_FRAUDS ? 0 : TYPED_ARRAY_BYTES + this.frauds.byteLength);
  }
}

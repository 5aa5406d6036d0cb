import {
  CUSTOMER_DAY_STRIDE,
  FRAUD_STRIDE,
  RECENT_STRIDE,
  SECONDS_PER_DAY,
  TERMINAL_DAY_STRIDE,
  dayOf,
  type CustomerHistory,
  type TerminalHistory,
} from '../features/entityHistory.js';
import { highBits, lowBits } from '../features/idBits.js';
import type { EntityKey } from './entityKey.js';
import type { EntityList, ListedEntity } from './entityList.js';

/**
 * The in-memory history of one customer and of one terminal, with the update
 * rules of models/feature-spec.json's history.rules. Days are packed into
 * plain arrays of numbers, and each record is also the read-only view the
 * features are computed from. Not typed arrays: each of those costs about
 * 600 bytes of resident memory beyond its elements (its ArrayBuffer and the
 * backing store outside the heap), more than a busy card's whole history.
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
 * Resident bytes of entities: a fixed part each (its object, its map entry
 * and place in the eviction order, its arrays' headers) and a part per
 * number held (8 bytes, the room its arrays grow into, the heap's free
 * space around them). Fitted by RSS (Node 24, bench/stateSizing.ts) on a
 * light entity (3 transactions: a card about 460 B, a terminal 360 to 430
 * B) and on the busiest (a card about 2,000 B, a terminal 1,150 B), so
 * fraud_state_bytes tracks what the process really holds whatever the
 * entities' shape. The store keeps the counts as entities change, so the
 * metric costs no pass over them.
 */
const BYTES = {
  customer: { fixed: 290, perNumber: 13 },
  terminal: { fixed: 390, perNumber: 10 },
} as const;

/** Resident bytes of `entities` customers or terminals holding `numbers` numbers between them. */
export function entityBytes(kind: 'customer' | 'terminal', entities: number, numbers: number): number {
  return entities * BYTES[kind].fixed + numbers * BYTES[kind].perNumber;
}

/** Terminals without a confirmed fraud (most of them) share this empty array; addFraud gives a terminal its own. */
const NO_FRAUDS: readonly number[] = [];

/**
 * Days kept in ascending order, `stride` numbers each (the day first):
 * the entry of `day`, inserted (zeroed) where it belongs if missing. Time
 * mostly moves forward, so the day sought is most often the last one, and a
 * new one is appended.
 */
function dayEntry(record: { days: number[]; dayCount: number }, day: number, stride: number): number {
  const { dayCount, days } = record;
  let position = dayCount;
  while (position > 0 && (days[(position - 1) * stride] as number) > day) position--;
  if (position > 0 && days[(position - 1) * stride] === day) return (position - 1) * stride;
  const base = position * stride;
  days.push(day);
  for (let number = 1; number < stride; number++) days.push(0);
  if (position < dayCount) {
    days.copyWithin(base + stride, base, dayCount * stride);
    days.fill(0, base, base + stride);
    days[base] = day;
  }
  record.dayCount = dayCount + 1;
  return base;
}

/** Drops the days before `firstDay` from ascending days; the oldest is first, so this is a check in the common case. */
function dropSortedDaysBefore(record: { days: number[]; dayCount: number }, stride: number, firstDay: number): void {
  let drop = 0;
  while (drop < record.dayCount && (record.days[drop * stride] as number) < firstDay) drop++;
  if (drop === 0) return;
  record.days.splice(0, drop * stride);
  record.dayCount -= drop;
}

/** Removes the frauds (in report order) of days before `firstDay`; returns the new count. */
function dropFraudsBefore(frauds: number[], count: number, firstDay: number): number {
  let kept = 0;
  for (let entry = 0; entry < count; entry++) {
    if ((frauds[entry * FRAUD_STRIDE] as number) < firstDay) continue;
    if (kept !== entry) frauds.copyWithin(kept * FRAUD_STRIDE, entry * FRAUD_STRIDE, (entry + 1) * FRAUD_STRIDE);
    kept++;
  }
  frauds.length = kept * FRAUD_STRIDE;
  return kept;
}

/** Sums the transaction counts (second number of each day) of the days from `firstDay` on, newest first, stopping at `enough`. */
function countFrom(days: readonly number[], dayCount: number, stride: number, firstDay: number, enough: number): number {
  let count = 0;
  for (let base = (dayCount - 1) * stride; base >= 0 && count < enough && (days[base] as number) >= firstDay; base -= stride) count += days[base + 1] as number;
  return count;
}

/**
 * What the store keeps beside an entity's history: its key, its place in the
 * eviction order (entityEviction.ts) and the last snapshot that wrote it
 * (stateSnapshot.ts writes each entity as it was when the snapshot began).
 */
abstract class StoredEntity implements ListedEntity {
  /** The eviction segment it is in, and its neighbours there (entityEviction.ts). */
  list: EntityList | undefined = undefined;
  previous: ListedEntity | undefined = undefined;
  next: ListedEntity | undefined = undefined;
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
  days: number[] = [];
  dayCount = 0;
  recent: number[] = [];
  recentCount = 0;
  /** Newest event time recorded for this customer. */
  watermark = Number.NEGATIVE_INFINITY;

  transactionsFrom(firstDay: number, enough = Number.POSITIVE_INFINITY): number {
    let count = 0;
    for (let base = 0; base < this.recentCount * RECENT_STRIDE; base += RECENT_STRIDE) if (dayOf(this.recent[base + 2] as number) >= firstDay) count++;
    return count + countFrom(this.days, this.dayCount, CUSTOMER_DAY_STRIDE, firstDay, enough - count);
  }

  /** Records a transaction; false when the same id is already recorded (a duplicate), which changes nothing. */
  record(id: bigint, time: number, amount: number, retention: Retention): boolean {
    const low = lowBits(id);
    const high = highBits(id);
    const { recent } = this;
    for (let base = 0; base < this.recentCount * RECENT_STRIDE; base += RECENT_STRIDE) if (recent[base] === low && recent[base + 1] === high) return false;
    this.addRecent(low, high, time, amount);
    if (time > this.watermark) {
      this.watermark = time;
      this.fold(retention);
    }
    if (this.recentCount > MAX_RECENT_TRANSACTIONS) this.foldEarliest();
    return true;
  }

  /** Keeps a transaction exactly (used by recording and by snapshot restore). */
  addRecent(low: number, high: number, time: number, amount: number): void {
    this.recent.push(low, high, time, amount);
    this.recentCount++;
  }

  /** Folds the recent transaction with the earliest event time (the first recorded among equals) into its day. */
  private foldEarliest(): void {
    const { recent } = this;
    let earliest = 0;
    for (let base = RECENT_STRIDE; base < this.recentCount * RECENT_STRIDE; base += RECENT_STRIDE) if ((recent[base + 2] as number) < (recent[earliest + 2] as number)) earliest = base;
    const time = recent[earliest + 2] as number;
    const amount = recent[earliest + 3] as number;
    recent.splice(earliest, RECENT_STRIDE);
    this.recentCount--;
    this.addToDay(dayOf(time), 1, amount, amount);
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
    for (let base = 0; base < this.recentCount * RECENT_STRIDE; base += RECENT_STRIDE) {
      const time = recent[base + 2] as number;
      if (time < horizon) {
        const amount = recent[base + 3] as number;
        this.addToDay(dayOf(time), 1, amount, amount);
      } else {
        if (kept !== base) recent.copyWithin(kept, base, base + RECENT_STRIDE);
        kept += RECENT_STRIDE;
      }
    }
    if (kept < recent.length) {
      recent.length = kept;
      this.recentCount = kept / RECENT_STRIDE;
    }
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

  /** Numbers held (entityBytes). */
  get numbers(): number {
    return this.days.length + this.recent.length;
  }
}

export class TerminalRecord extends StoredEntity implements TerminalHistory {
  days: number[] = [];
  dayCount = 0;
  frauds: number[] = NO_FRAUDS as number[];
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
    if (this.frauds === NO_FRAUDS) this.frauds = [];
    this.frauds.push(day, knownAt, until);
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

  /** Numbers held (entityBytes). */
  get numbers(): number {
    return this.days.length + this.frauds.length;
  }
}

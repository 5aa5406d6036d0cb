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

/**
 * The in-memory history of one customer and of one terminal, with the update
 * rules of models/feature-spec.json's history.rules. Days are packed into
 * typed arrays (a few hundred bytes per entity), and each record is also the
 * read-only view the features are computed from.
 */

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

function grown(array: Float64Array, needed: number): Float64Array {
  if (needed <= array.length) return array;
  const next = new Float64Array(Math.max(needed, array.length * 2));
  next.set(array);
  return next;
}

/**
 * Removes the entries (of `stride` numbers) whose first number is below
 * `firstDay`, keeping the others in order; returns the new count.
 */
function dropDaysBefore(array: Float64Array, count: number, stride: number, firstDay: number): number {
  let oldest = Number.POSITIVE_INFINITY;
  for (let entry = 0; entry < count; entry++) oldest = Math.min(oldest, array[entry * stride] as number);
  if (oldest >= firstDay) return count;
  let kept = 0;
  for (let entry = 0; entry < count; entry++) {
    if ((array[entry * stride] as number) < firstDay) continue;
    if (kept !== entry) array.copyWithin(kept * stride, entry * stride, (entry + 1) * stride);
    kept++;
  }
  return kept;
}

export class CustomerRecord implements CustomerHistory {
  days: Float64Array = new Float64Array(4 * CUSTOMER_DAY_STRIDE);
  dayCount = 0;
  recent: RecentTransaction[] = [];
  /** Newest event time recorded for this customer. */
  watermark = Number.NEGATIVE_INFINITY;

  /** Records a transaction; false when the same id is already recorded (a duplicate), which changes nothing. */
  record(id: bigint, time: number, amount: number, retention: Retention): boolean {
    for (const recent of this.recent) if (recent.id === id) return false;
    this.recent.push({ id, time, amount });
    if (time > this.watermark) {
      this.watermark = time;
      this.fold(retention);
    }
    return true;
  }

  /**
   * Folds the recent transactions that no accepted transaction can precede
   * any more (older than the watermark minus the lateness) into their days,
   * and drops the days no window can reach.
   */
  private fold(retention: Retention): void {
    const horizon = this.watermark - retention.latenessSeconds;
    let foldable = 0;
    for (const recent of this.recent) if (recent.time < horizon) foldable++;
    if (foldable > 0) {
      const kept: RecentTransaction[] = [];
      for (const recent of this.recent) {
        if (recent.time < horizon) this.addToDay(dayOf(recent.time), 1, recent.amount, recent.amount);
        else kept.push(recent);
      }
      this.recent = kept;
    }
    this.dayCount = dropDaysBefore(this.days, this.dayCount, CUSTOMER_DAY_STRIDE, firstKeptDay(this.watermark, retention));
  }

  /** Adds to a day's aggregate (used by folding and by snapshot restore). */
  addToDay(day: number, count: number, sum: number, max: number): void {
    // Days are appended as time goes on: the day sought is most often the last.
    for (let entry = this.dayCount - 1; entry >= 0; entry--) {
      const base = entry * CUSTOMER_DAY_STRIDE;
      if (this.days[base] !== day) continue;
      this.days[base + 1] = (this.days[base + 1] as number) + count;
      this.days[base + 2] = (this.days[base + 2] as number) + sum;
      if (max > (this.days[base + 3] as number)) this.days[base + 3] = max;
      return;
    }
    this.days = grown(this.days, (this.dayCount + 1) * CUSTOMER_DAY_STRIDE);
    this.days.set([day, count, sum, max], this.dayCount * CUSTOMER_DAY_STRIDE);
    this.dayCount++;
  }

  /** Approximate bytes held, for the state-size metric. */
  get bytes(): number {
    return 96 + this.days.byteLength + this.recent.length * 72;
  }
}

export class TerminalRecord implements TerminalHistory {
  days: Float64Array = new Float64Array(4 * TERMINAL_DAY_STRIDE);
  dayCount = 0;
  frauds: Float64Array = new Float64Array(0);
  fraudCount = 0;
  watermark = Number.NEGATIVE_INFINITY;

  /** Counts a transaction (the caller has ruled out a repeat) and drops the days no window can reach. */
  record(time: number, retention: Retention): void {
    this.addToDay(dayOf(time), 1);
    if (time <= this.watermark) return;
    const previousFirstDay = firstKeptDay(this.watermark, retention);
    this.watermark = time;
    const firstDay = firstKeptDay(time, retention);
    if (firstDay === previousFirstDay) return;
    this.dayCount = dropDaysBefore(this.days, this.dayCount, TERMINAL_DAY_STRIDE, firstDay);
    this.fraudCount = dropDaysBefore(this.frauds, this.fraudCount, FRAUD_STRIDE, firstDay);
  }

  /** Adds transactions to a day (used by recording and by snapshot restore). */
  addToDay(day: number, count: number): void {
    for (let entry = this.dayCount - 1; entry >= 0; entry--) {
      const base = entry * TERMINAL_DAY_STRIDE;
      if (this.days[base] !== day) continue;
      this.days[base + 1] = (this.days[base + 1] as number) + count;
      return;
    }
    this.days = grown(this.days, (this.dayCount + 1) * TERMINAL_DAY_STRIDE);
    this.days[this.dayCount * TERMINAL_DAY_STRIDE] = day;
    this.days[this.dayCount * TERMINAL_DAY_STRIDE + 1] = count;
    this.dayCount++;
  }

  /** A confirmed fraud among the transactions of `day`, known from `knownAt` on. */
  addFraud(day: number, knownAt: number): void {
    this.frauds = grown(this.frauds, (this.fraudCount + 1) * FRAUD_STRIDE);
    this.frauds[this.fraudCount * FRAUD_STRIDE] = day;
    this.frauds[this.fraudCount * FRAUD_STRIDE + 1] = knownAt;
    this.fraudCount++;
  }

  get bytes(): number {
    return 104 + this.days.byteLength + this.frauds.byteLength;
  }
}

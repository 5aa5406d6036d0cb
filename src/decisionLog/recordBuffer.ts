import type { ScoredCall } from './scoredCall.js';

/** A run of records of one call: transactions [from, to). */
export interface CallSlice {
  readonly call: ScoredCall;
  readonly from: number;
  readonly to: number;
  /** When the call was buffered (performance.now()). */
  readonly at: number;
}

/**
 * A bounded FIFO of records, held as slices of the calls they came from (one
 * entry per call, not per record). What does not fit is refused, never
 * waited for: `push` returns how many records it dropped.
 */
export class RecordBuffer {
  private slices: CallSlice[] = [];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.count;
  }

  /** How long the oldest record has waited, in milliseconds (0 when empty). */
  oldestWaitMs(now: number): number {
    return this.count === 0 ? 0 : now - (this.slices[this.head] as CallSlice).at;
  }

  /** Keeps as many of the call's records as fit, in order; returns how many were dropped. */
  push(call: ScoredCall, now: number): number {
    const records = call.transactions.length;
    const kept = Math.min(records, this.capacity - this.count);
    if (kept > 0) {
      this.slices.push({ call, from: 0, to: kept, at: now });
      this.count += kept;
    }
    return records - kept;
  }

  /** Up to `max` records from the front, without removing them (they stay counted until `remove`). */
  peek(max: number): CallSlice[] {
    const taken: CallSlice[] = [];
    let left = max;
    for (let index = this.head; index < this.slices.length && left > 0; index++) {
      const slice = this.slices[index] as CallSlice;
      const to = Math.min(slice.to, slice.from + left);
      taken.push(to === slice.to ? slice : { ...slice, to });
      left -= to - slice.from;
    }
    return taken;
  }

  /** Removes `records` records from the front (those `peek` returned). */
  remove(records: number): void {
    let left = Math.min(records, this.count);
    this.count -= left;
    while (left > 0) {
      const slice = this.slices[this.head] as CallSlice;
      const length = slice.to - slice.from;
      if (length <= left) {
        this.slices[this.head] = EMPTY_SLICE;
        this.head++;
        left -= length;
      } else {
        this.slices[this.head] = { ...slice, from: slice.from + left };
        left = 0;
      }
    }
    // Compacts once the consumed front is most of the array: amortised O(1) per entry.
    if (this.head > 1024 && this.head * 2 > this.slices.length) {
      this.slices = this.slices.slice(this.head);
      this.head = 0;
    }
  }

  /** Empties the buffer; returns how many records it held. */
  clear(): number {
    const held = this.count;
    this.slices = [];
    this.head = 0;
    this.count = 0;
    return held;
  }
}

/** Left in consumed places so the calls they held can be collected before the array is compacted. */
const EMPTY_SLICE: CallSlice = { call: { method: '', transactions: [], runs: [], latencySeconds: 0, decidedAtMs: 0 }, from: 0, to: 0, at: 0 };

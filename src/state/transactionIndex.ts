/**
 * What the embedded store remembers of each recorded transaction (its
 * customer, terminal, event time, amount and outcome), by transaction id, in
 * typed arrays, so hundreds of thousands of entries cost no garbage
 * collection. The entries lie in recording order in a ring of columns (the
 * oldest at its front, forgotten first, one order for all ids, each in O(1)
 * amortised), and an open-addressing hash table holds only each id's place
 * in the ring: 4 bytes a slot, so the table's room to spare costs little and
 * an entry costs 100 to 200 bytes (see `bytes`). Every id is a 64-bit integer
 * held exactly as two 32-bit halves (customer and terminal ids too), so ids of
 * payment systems (often 2^53 or more) take the same path as small ones. Each
 * entry also keeps the scores model revisions gave it (scoreColumns.ts).
 */

import { SCORE_BYTES_PER_SLOT, ScoreColumns, type CodedScore, type KeepOutcome } from './scoreColumns.js';
import { highBits, idOfBits, lowBits } from '../features/idBits.js';

/** A remembered transaction, as read back. */
export interface IndexedTransaction {
  readonly customerId: bigint;
  readonly terminalId: bigint;
  /** Event time, Unix seconds. */
  readonly time: number;
  /** The amount recorded, or NaN when unknown (an entry restored from a snapshot that did not keep it). */
  readonly amount: number;
  /** 0: no outcome yet, 1: fraud, 2: legitimate. */
  readonly outcome: 0 | 1 | 2;
  readonly knownAt: number;
  /** Corrections recorded (each made the outcome in force another one); at most MAX_CORRECTIONS. */
  readonly corrections: number;
}

/** A table slot that holds no entry. */
const FREE = -1;
/** Places of the ring at first; the table has twice as many slots, and both double together. */
const INITIAL_ENTRIES = 1 << 13;
/** Bytes per entry of the ring: 6 id halves, 3 doubles, an outcome and a corrections byte, and the score columns. */
const ENTRY_BYTES = 6 * 4 + 3 * 8 + 2 + SCORE_BYTES_PER_SLOT;

/** Mixes an id's bits into a slot number (ids are often sequential). */
function slotOf(low: number, high: number, mask: number): number {
  let hash = Math.imul(low ^ Math.imul(high, 0x27d4eb2d), 0x9e3779b1);
  hash ^= hash >>> 15;
  return hash & mask;
}

/** The columns of the ring, one value (or score set) per entry. */
class EntryColumns {
  readonly idLow: Uint32Array;
  readonly idHigh: Uint32Array;
  readonly customerLow: Uint32Array;
  readonly customerHigh: Uint32Array;
  readonly terminalLow: Uint32Array;
  readonly terminalHigh: Uint32Array;
  readonly times: Float64Array;
  readonly amounts: Float64Array;
  readonly knownAts: Float64Array;
  readonly corrections: Uint8Array;
  /** 0: no outcome yet, 1: fraud, 2: legitimate. */
  readonly outcomes: Uint8Array;
  readonly scores: ScoreColumns;

  constructor(readonly capacity: number) {
    this.idLow = new Uint32Array(capacity);
    this.idHigh = new Uint32Array(capacity);
    this.customerLow = new Uint32Array(capacity);
    this.customerHigh = new Uint32Array(capacity);
    this.terminalLow = new Uint32Array(capacity);
    this.terminalHigh = new Uint32Array(capacity);
    this.times = new Float64Array(capacity);
    this.amounts = new Float64Array(capacity);
    this.knownAts = new Float64Array(capacity);
    this.corrections = new Uint8Array(capacity);
    this.outcomes = new Uint8Array(capacity);
    this.scores = new ScoreColumns(capacity);
  }

  /** Copies an entry to a place of `target` (when the ring grows). */
  copy(from: number, target: EntryColumns, to: number): void {
    target.idLow[to] = this.idLow[from] as number;
    target.idHigh[to] = this.idHigh[from] as number;
    target.customerLow[to] = this.customerLow[from] as number;
    target.customerHigh[to] = this.customerHigh[from] as number;
    target.terminalLow[to] = this.terminalLow[from] as number;
    target.terminalHigh[to] = this.terminalHigh[from] as number;
    target.times[to] = this.times[from] as number;
    target.amounts[to] = this.amounts[from] as number;
    target.knownAts[to] = this.knownAts[from] as number;
    target.corrections[to] = this.corrections[from] as number;
    target.outcomes[to] = this.outcomes[from] as number;
    this.scores.copy(from, target.scores, to);
  }
}

export class TransactionIndex {
  /** The ring position of each remembered id, FREE elsewhere: linear probing, at most half full. */
  private slots: Int32Array;
  private mask: number;
  /** The entries in recording order, a ring: `start` is the oldest, `count` of them. */
  private ring: EntryColumns;
  private start = 0;
  private count = 0;
  /** Places of the ring written so far: the rest of its columns has never been touched, so it is not resident. */
  private touched = 0;
  /**
   * Ids recorded again under another customer or terminal (ids are meant to
   * be unique, so this stays small): the later recordings, so a retry of one
   * of them is still known as a repeat.
   */
  private readonly reuses = new Map<bigint, { readonly customerId: bigint; readonly terminalId: bigint }[]>();

  /**
   * `expectedEntries`: the most the owner keeps (its limit). The ring and the
   * table are made that big at once (the smallest power of two that holds
   * it), because doubling them moves and places every entry again in one go:
   * 180 ms at a million entries, 670 ms at four. The ring's columns cost
   * address space until written (typed arrays are zeroed by the system, page
   * by page, when first touched); the table (4 bytes a slot, a third of the
   * ring's bytes) is resident from the start. Beyond it the index still
   * doubles (a snapshot being written holds back forgetting).
   */
  constructor(expectedEntries = INITIAL_ENTRIES) {
    let places = INITIAL_ENTRIES;
    while (places < expectedEntries) places *= 2;
    this.ring = new EntryColumns(places);
    this.slots = new Int32Array(places * 2).fill(FREE);
    this.mask = places * 2 - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Places of the ring (entries it holds before it doubles). */
  get places(): number {
    return this.ring.capacity;
  }

  get(id: bigint): IndexedTransaction | undefined {
    const position = this.positionOf(lowBits(id), highBits(id));
    return position < 0 ? undefined : this.entryAt(position);
  }

  /**
   * True when `id` is remembered with this customer and terminal: a repeat.
   * (Checked on every recording, so it reads without allocating.)
   */
  isRepeat(id: bigint, customerId: bigint, terminalId: bigint): boolean {
    if (this.reuses.size > 0 && this.reuses.get(id)?.some((entry) => entry.customerId === customerId && entry.terminalId === terminalId) === true) return true;
    const position = this.positionOf(lowBits(id), highBits(id));
    return position >= 0 && this.isCustomer(position, customerId) && this.isTerminal(position, terminalId);
  }

  /** True when `id` is remembered (under any customer and terminal). */
  has(id: bigint): boolean {
    return this.positionOf(lowBits(id), highBits(id)) >= 0;
  }

  /** True when `id` is remembered at this terminal (under any customer). */
  isAtTerminal(id: bigint, terminalId: bigint): boolean {
    const position = this.positionOf(lowBits(id), highBits(id));
    if (position < 0) return false;
    return this.isTerminal(position, terminalId) || this.reuses.get(id)?.some((entry) => entry.terminalId === terminalId) === true;
  }

  /**
   * Remembers a recording of a transaction. The first recording of an id is
   * the one outcomes name; a later one under another customer or terminal is
   * kept as a reuse, so its own retries are known too. `amount` is NaN when
   * unknown (then no repeat is refused for its amount).
   */
  add(id: bigint, customerId: bigint, terminalId: bigint, time: number, amount = Number.NaN): void {
    const idLow = lowBits(id);
    const idHigh = highBits(id);
    if (this.positionOf(idLow, idHigh) >= 0) {
      if (!this.isRepeat(id, customerId, terminalId)) {
        const reuses = this.reuses.get(id) ?? [];
        reuses.push({ customerId, terminalId });
        this.reuses.set(id, reuses);
      }
      return;
    }
    if (this.count === this.ring.capacity) this.grow();
    const ring = this.ring;
    const position = (this.start + this.count) % ring.capacity;
    ring.idLow[position] = idLow;
    ring.idHigh[position] = idHigh;
    ring.customerLow[position] = lowBits(customerId);
    ring.customerHigh[position] = highBits(customerId);
    ring.terminalLow[position] = lowBits(terminalId);
    ring.terminalHigh[position] = highBits(terminalId);
    ring.times[position] = time;
    ring.amounts[position] = amount;
    ring.outcomes[position] = 0;
    ring.knownAts[position] = 0;
    ring.corrections[position] = 0;
    ring.scores.clear(position);
    this.place(position);
    this.count++;
    if (position >= this.touched) this.touched = position + 1;
  }

  /** Records the outcome in force of a remembered transaction, and how many corrections led to it. */
  setOutcome(id: bigint, outcome: 1 | 2, knownAt: number, corrections = 0): void {
    const position = this.positionOf(lowBits(id), highBits(id));
    if (position < 0) return;
    this.ring.outcomes[position] = outcome;
    this.ring.knownAts[position] = knownAt;
    this.ring.corrections[position] = corrections;
  }

  /**
   * Keeps a model's score with the transaction `id` remembered for this
   * customer and terminal (the first recording of the id, the one outcomes
   * name): 'unknown' when the id is not remembered, 'reused' when it is
   * remembered for another customer or terminal; else what the score
   * columns did (the first score of a model stands; at most
   * MAX_SCORED_MODELS_PER_TRANSACTION models).
   */
  keepScore(id: bigint, customerId: bigint, terminalId: bigint, code: number, probability: number, alerted: boolean): KeepOutcome | 'unknown' | 'reused' {
    const position = this.positionOf(lowBits(id), highBits(id));
    if (position < 0) return 'unknown';
    if (!this.isCustomer(position, customerId) || !this.isTerminal(position, terminalId)) return 'reused';
    return this.ring.scores.keep(position, code, probability, alerted);
  }

  /** The scores kept with a remembered transaction, in the order they were kept (empty when none or not remembered). */
  scoresOf(id: bigint): CodedScore[] {
    const position = this.positionOf(lowBits(id), highBits(id));
    return position < 0 ? [] : this.ring.scores.read(position);
  }

  /**
   * Forgets, oldest first in recording order, entries with an event time
   * before `horizon`, and more while over `limit`; returns how many went for
   * the limit while still inside the horizon (a retry of one of those is no
   * longer known as one: the retention promise is broken for it).
   */
  forget(horizon: number, limit: number): number {
    const ring = this.ring;
    let early = 0;
    while (this.count > 0) {
      const position = this.start;
      const expired = (ring.times[position] as number) < horizon;
      if (!expired && this.count <= limit) break;
      const idLow = ring.idLow[position] as number;
      const idHigh = ring.idHigh[position] as number;
      this.removeSlot(this.slotHolding(idLow, idHigh));
      this.start = (position + 1) % ring.capacity;
      this.count--;
      if (this.reuses.size > 0) this.reuses.delete(idOfBits(idLow, idHigh));
      if (!expired) early++;
    }
    return early;
  }

  /** Every remembered transaction, oldest first (for snapshots). */
  *entries(): Generator<[bigint, IndexedTransaction]> {
    for (let index = 0; index < this.count; index++) {
      const position = (this.start + index) % this.ring.capacity;
      yield [idOfBits(this.ring.idLow[position] as number, this.ring.idHigh[position] as number), this.entryAt(position)];
    }
  }

  /**
   * Bytes held: per place of the ring written so far ENTRY_BYTES (91: 6 id
   * halves, 3 doubles, an outcome and a corrections byte, 41 for the score
   * columns: 4 model codes, 4 probabilities, an alerted mask), per table
   * slot 4. The ring has 1 to 2 places per entry of its owner's limit (the
   * limit rounded up to a power of two), every one written once the ring
   * has gone round, and the table twice as many slots, so at the limit a
   * remembered transaction costs 99 to 198 bytes, its scores 41 to 82 of
   * them, whether any were kept or not.
   */
  get bytes(): number {
    return this.touched * ENTRY_BYTES + this.slots.length * 4;
  }

  private entryAt(position: number): IndexedTransaction {
    const ring = this.ring;
    return {
      customerId: idOfBits(ring.customerLow[position] as number, ring.customerHigh[position] as number),
      terminalId: idOfBits(ring.terminalLow[position] as number, ring.terminalHigh[position] as number),
      time: ring.times[position] as number,
      amount: ring.amounts[position] as number,
      outcome: ring.outcomes[position] as 0 | 1 | 2,
      knownAt: ring.knownAts[position] as number,
      corrections: ring.corrections[position] as number,
    };
  }

  private isCustomer(position: number, customerId: bigint): boolean {
    return this.ring.customerLow[position] === lowBits(customerId) && this.ring.customerHigh[position] === highBits(customerId);
  }

  private isTerminal(position: number, terminalId: bigint): boolean {
    return this.ring.terminalLow[position] === lowBits(terminalId) && this.ring.terminalHigh[position] === highBits(terminalId);
  }

  /** The table slot of an id, or -1. */
  private slotHolding(idLow: number, idHigh: number): number {
    const { slots, mask } = this;
    const { idLow: lows, idHigh: highs } = this.ring;
    let slot = slotOf(idLow, idHigh, mask);
    for (;;) {
      const position = slots[slot] as number;
      if (position === FREE) return -1;
      if (lows[position] === idLow && highs[position] === idHigh) return slot;
      slot = (slot + 1) & mask;
    }
  }

  /** The ring position of an id, or -1. */
  private positionOf(idLow: number, idHigh: number): number {
    const slot = this.slotHolding(idLow, idHigh);
    return slot < 0 ? -1 : (this.slots[slot] as number);
  }

  /** Puts the entry at `position` (not in the table yet) into the table. */
  private place(position: number): void {
    const { slots, mask } = this;
    let slot = slotOf(this.ring.idLow[position] as number, this.ring.idHigh[position] as number, mask);
    while (slots[slot] !== FREE) slot = (slot + 1) & mask;
    slots[slot] = position;
  }

  /** Frees a table slot, shifting back the entries of its probe run (linear probing needs no tombstones). */
  private removeSlot(slot: number): void {
    const { slots, mask } = this;
    const { idLow, idHigh } = this.ring;
    let hole = slot;
    let next = (hole + 1) & mask;
    for (let position = slots[next] as number; position !== FREE; position = slots[next] as number) {
      const home = slotOf(idLow[position] as number, idHigh[position] as number, mask);
      // The entry at `next` may move into the hole if its home is not between the hole and it.
      const movable = hole <= next ? home <= hole || home > next : home <= hole && home > next;
      if (movable) {
        slots[hole] = position;
        hole = next;
      }
      next = (next + 1) & mask;
    }
    slots[hole] = FREE;
  }

  /**
   * Doubles the ring, its entries moved to the front in order, and the table
   * (the ring has half as many places as the table has slots, so the table is
   * at most half full), where every entry is placed again.
   */
  private grow(): void {
    const old = this.ring;
    const bigger = new EntryColumns(old.capacity * 2);
    for (let index = 0; index < this.count; index++) old.copy((this.start + index) % old.capacity, bigger, index);
    this.ring = bigger;
    this.start = 0;
    this.slots = new Int32Array(bigger.capacity * 2).fill(FREE);
    this.mask = this.slots.length - 1;
    for (let position = 0; position < this.count; position++) this.place(position);
  }
}

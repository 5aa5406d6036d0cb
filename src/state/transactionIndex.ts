/**
 * What the embedded store remembers of each recorded transaction (its
 * customer, terminal, event time, amount and outcome), by transaction id: an
 * open-addressing hash table in typed arrays, so hundreds of thousands of
 * entries cost no garbage collection and 190 to 380 bytes each (see `bytes`). Every id is a
 * 64-bit integer held exactly as two 32-bit halves (customer and terminal ids
 * too), so ids of payment systems (often 2^53 or more) take the same path as
 * small ones. Entries are forgotten oldest first in recording order, one
 * order for all ids, each in O(1) amortised. Each entry also keeps the
 * scores model revisions gave it (scoreColumns.ts), moved with it.
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

/** `outcomes` value of a free slot (outcomes are 0, 1 or 2). */
const FREE = 255;
const INITIAL_SLOTS = 1 << 14;

/** Mixes an id's bits into a slot number (ids are often sequential). */
function slotOf(low: number, high: number, mask: number): number {
  let hash = Math.imul(low ^ Math.imul(high, 0x27d4eb2d), 0x9e3779b1);
  hash ^= hash >>> 15;
  return hash & mask;
}

export class TransactionIndex {
  private mask = INITIAL_SLOTS - 1;
  private idLow = new Uint32Array(INITIAL_SLOTS);
  private idHigh = new Uint32Array(INITIAL_SLOTS);
  private customerLow = new Uint32Array(INITIAL_SLOTS);
  private customerHigh = new Uint32Array(INITIAL_SLOTS);
  private terminalLow = new Uint32Array(INITIAL_SLOTS);
  private terminalHigh = new Uint32Array(INITIAL_SLOTS);
  private times = new Float64Array(INITIAL_SLOTS);
  private amounts = new Float64Array(INITIAL_SLOTS);
  private knownAts = new Float64Array(INITIAL_SLOTS);
  private corrections = new Uint8Array(INITIAL_SLOTS);
  private outcomes = new Uint8Array(INITIAL_SLOTS).fill(FREE);
  private scores = new ScoreColumns(INITIAL_SLOTS);
  private count = 0;
  /** Ids in recording order (two halves each), a ring: the front is the oldest. */
  private orderLow = new Uint32Array(INITIAL_SLOTS);
  private orderHigh = new Uint32Array(INITIAL_SLOTS);
  private orderStart = 0;
  private orderLength = 0;
  /**
   * Ids recorded again under another customer or terminal (ids are meant to
   * be unique, so this stays small): the later recordings, so a retry of one
   * of them is still known as a repeat.
   */
  private readonly reuses = new Map<bigint, { readonly customerId: bigint; readonly terminalId: bigint }[]>();

  get size(): number {
    return this.count;
  }

  get(id: bigint): IndexedTransaction | undefined {
    const slot = this.find(lowBits(id), highBits(id));
    if (slot < 0) return undefined;
    return {
      customerId: idOfBits(this.customerLow[slot] as number, this.customerHigh[slot] as number),
      terminalId: idOfBits(this.terminalLow[slot] as number, this.terminalHigh[slot] as number),
      time: this.times[slot] as number,
      amount: this.amounts[slot] as number,
      outcome: this.outcomes[slot] as 0 | 1 | 2,
      knownAt: this.knownAts[slot] as number,
      corrections: this.corrections[slot] as number,
    };
  }

  /**
   * True when `id` is remembered with this customer and terminal: a repeat.
   * (Checked on every recording, so it reads without allocating.)
   */
  isRepeat(id: bigint, customerId: bigint, terminalId: bigint): boolean {
    if (this.reuses.size > 0 && this.reuses.get(id)?.some((entry) => entry.customerId === customerId && entry.terminalId === terminalId) === true) return true;
    const slot = this.find(lowBits(id), highBits(id));
    return slot >= 0 && this.isCustomer(slot, customerId) && this.isTerminal(slot, terminalId);
  }

  /** True when `id` is remembered (under any customer and terminal). */
  has(id: bigint): boolean {
    return this.find(lowBits(id), highBits(id)) >= 0;
  }

  /** True when `id` is remembered at this terminal (under any customer). */
  isAtTerminal(id: bigint, terminalId: bigint): boolean {
    const slot = this.find(lowBits(id), highBits(id));
    if (slot < 0) return false;
    return this.isTerminal(slot, terminalId) || this.reuses.get(id)?.some((entry) => entry.terminalId === terminalId) === true;
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
    const present = this.find(idLow, idHigh);
    if (present >= 0) {
      if (!this.isRepeat(id, customerId, terminalId)) {
        const reuses = this.reuses.get(id) ?? [];
        reuses.push({ customerId, terminalId });
        this.reuses.set(id, reuses);
      }
      return;
    }
    if ((this.count + 1) * 2 > this.outcomes.length) this.grow();
    let slot = slotOf(idLow, idHigh, this.mask);
    while (this.outcomes[slot] !== FREE) slot = (slot + 1) & this.mask;
    this.idLow[slot] = idLow;
    this.idHigh[slot] = idHigh;
    this.customerLow[slot] = lowBits(customerId);
    this.customerHigh[slot] = highBits(customerId);
    this.terminalLow[slot] = lowBits(terminalId);
    this.terminalHigh[slot] = highBits(terminalId);
    this.times[slot] = time;
    this.amounts[slot] = amount;
    this.outcomes[slot] = 0;
    this.knownAts[slot] = 0;
    this.corrections[slot] = 0;
    this.scores.clear(slot);
    this.count++;
    this.pushOrder(idLow, idHigh);
  }

  /** Records the outcome in force of a remembered transaction, and how many corrections led to it. */
  setOutcome(id: bigint, outcome: 1 | 2, knownAt: number, corrections = 0): void {
    const slot = this.find(lowBits(id), highBits(id));
    if (slot < 0) return;
    this.outcomes[slot] = outcome;
    this.knownAts[slot] = knownAt;
    this.corrections[slot] = corrections;
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
    const slot = this.find(lowBits(id), highBits(id));
    if (slot < 0) return 'unknown';
    if (!this.isCustomer(slot, customerId) || !this.isTerminal(slot, terminalId)) return 'reused';
    return this.scores.keep(slot, code, probability, alerted);
  }

  /** The scores kept with a remembered transaction, in the order they were kept (empty when none or not remembered). */
  scoresOf(id: bigint): CodedScore[] {
    const slot = this.find(lowBits(id), highBits(id));
    return slot < 0 ? [] : this.scores.read(slot);
  }

  /**
   * Forgets, oldest first in recording order, entries with an event time
   * before `horizon`, and more while over `limit`; returns how many went for
   * the limit while still inside the horizon (a retry of one of those is no
   * longer known as one: the retention promise is broken for it).
   */
  forget(horizon: number, limit: number): number {
    let early = 0;
    while (this.orderLength > 0) {
      const idLow = this.orderLow[this.orderStart] as number;
      const idHigh = this.orderHigh[this.orderStart] as number;
      const slot = this.find(idLow, idHigh);
      const expired = slot < 0 || (this.times[slot] as number) < horizon;
      if (!expired && this.count <= limit) break;
      this.orderStart = (this.orderStart + 1) % this.orderLow.length;
      this.orderLength--;
      if (slot < 0) continue;
      this.remove(slot);
      if (this.reuses.size > 0) this.reuses.delete(idOfBits(idLow, idHigh));
      if (!expired) early++;
    }
    return early;
  }

  /** Every remembered transaction, oldest first (for snapshots). */
  *entries(): Generator<[bigint, IndexedTransaction]> {
    for (let index = 0; index < this.orderLength; index++) {
      const position = (this.orderStart + index) % this.orderLow.length;
      const id = idOfBits(this.orderLow[position] as number, this.orderHigh[position] as number);
      const entry = this.get(id);
      if (entry !== undefined) yield [id, entry];
    }
  }

  /**
   * Approximate bytes held: per slot 6 halves, 3 doubles, an outcome and a
   * corrections byte (50) and the score columns (41: 4 model codes, 4
   * probabilities, an alerted mask): 91; per order entry two halves: 8.
   * The table keeps 2 to 4 slots per entry (it doubles when half full) and
   * the order ring 1 to 2, so a remembered transaction costs 190 to 380
   * bytes, its scores 82 to 164 of them, whether any were kept or not.
   */
  get bytes(): number {
    return this.outcomes.length * (50 + SCORE_BYTES_PER_SLOT) + this.orderLow.length * 8;
  }

  private isCustomer(slot: number, customerId: bigint): boolean {
    return this.customerLow[slot] === lowBits(customerId) && this.customerHigh[slot] === highBits(customerId);
  }

  private isTerminal(slot: number, terminalId: bigint): boolean {
    return this.terminalLow[slot] === lowBits(terminalId) && this.terminalHigh[slot] === highBits(terminalId);
  }

  private find(idLow: number, idHigh: number): number {
    let slot = slotOf(idLow, idHigh, this.mask);
    for (;;) {
      if (this.outcomes[slot] === FREE) return -1;
      if (this.idLow[slot] === idLow && this.idHigh[slot] === idHigh) return slot;
      slot = (slot + 1) & this.mask;
    }
  }

  /** Deletes a slot, shifting back the entries of its probe run (linear probing needs no tombstones). */
  private remove(slot: number): void {
    let hole = slot;
    let next = (hole + 1) & this.mask;
    while (this.outcomes[next] !== FREE) {
      const home = slotOf(this.idLow[next] as number, this.idHigh[next] as number, this.mask);
      // The entry at `next` may move into the hole if its home is not between the hole and it.
      const movable = hole <= next ? home <= hole || home > next : home <= hole && home > next;
      if (movable) {
        this.moveSlot(next, hole);
        hole = next;
      }
      next = (next + 1) & this.mask;
    }
    this.outcomes[hole] = FREE;
    this.count--;
  }

  private moveSlot(from: number, to: number): void {
    this.idLow[to] = this.idLow[from] as number;
    this.idHigh[to] = this.idHigh[from] as number;
    this.customerLow[to] = this.customerLow[from] as number;
    this.customerHigh[to] = this.customerHigh[from] as number;
    this.terminalLow[to] = this.terminalLow[from] as number;
    this.terminalHigh[to] = this.terminalHigh[from] as number;
    this.times[to] = this.times[from] as number;
    this.amounts[to] = this.amounts[from] as number;
    this.outcomes[to] = this.outcomes[from] as number;
    this.knownAts[to] = this.knownAts[from] as number;
    this.corrections[to] = this.corrections[from] as number;
    this.scores.copy(from, this.scores, to);
  }

  private pushOrder(idLow: number, idHigh: number): void {
    if (this.orderLength === this.orderLow.length) {
      const biggerLow = new Uint32Array(this.orderLow.length * 2);
      const biggerHigh = new Uint32Array(this.orderLow.length * 2);
      for (let index = 0; index < this.orderLength; index++) {
        const position = (this.orderStart + index) % this.orderLow.length;
        biggerLow[index] = this.orderLow[position] as number;
        biggerHigh[index] = this.orderHigh[position] as number;
      }
      this.orderLow = biggerLow;
      this.orderHigh = biggerHigh;
      this.orderStart = 0;
    }
    const position = (this.orderStart + this.orderLength) % this.orderLow.length;
    this.orderLow[position] = idLow;
    this.orderHigh[position] = idHigh;
    this.orderLength++;
  }

  private grow(): void {
    const old = {
      idLow: this.idLow,
      idHigh: this.idHigh,
      customerLow: this.customerLow,
      customerHigh: this.customerHigh,
      terminalLow: this.terminalLow,
      terminalHigh: this.terminalHigh,
      times: this.times,
      amounts: this.amounts,
      outcomes: this.outcomes,
      knownAts: this.knownAts,
      corrections: this.corrections,
      scores: this.scores,
    };
    const slots = old.outcomes.length * 2;
    this.mask = slots - 1;
    this.idLow = new Uint32Array(slots);
    this.idHigh = new Uint32Array(slots);
    this.customerLow = new Uint32Array(slots);
    this.customerHigh = new Uint32Array(slots);
    this.terminalLow = new Uint32Array(slots);
    this.terminalHigh = new Uint32Array(slots);
    this.times = new Float64Array(slots);
    this.amounts = new Float64Array(slots);
    this.outcomes = new Uint8Array(slots).fill(FREE);
    this.knownAts = new Float64Array(slots);
    this.corrections = new Uint8Array(slots);
    this.scores = new ScoreColumns(slots);
    for (let from = 0; from < old.outcomes.length; from++) {
      if (old.outcomes[from] === FREE) continue;
      let slot = slotOf(old.idLow[from] as number, old.idHigh[from] as number, this.mask);
      while (this.outcomes[slot] !== FREE) slot = (slot + 1) & this.mask;
      this.idLow[slot] = old.idLow[from] as number;
      this.idHigh[slot] = old.idHigh[from] as number;
      this.customerLow[slot] = old.customerLow[from] as number;
      this.customerHigh[slot] = old.customerHigh[from] as number;
      this.terminalLow[slot] = old.terminalLow[from] as number;
      this.terminalHigh[slot] = old.terminalHigh[from] as number;
      this.times[slot] = old.times[from] as number;
      this.amounts[slot] = old.amounts[from] as number;
      this.outcomes[slot] = old.outcomes[from] as number;
      this.knownAts[slot] = old.knownAts[from] as number;
      this.corrections[slot] = old.corrections[from] as number;
      old.scores.copy(from, this.scores, slot);
    }
  }
}

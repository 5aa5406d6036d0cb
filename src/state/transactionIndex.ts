/**
 * What the embedded store remembers of each recorded transaction (its
 * customer, terminal, event time and outcome), by transaction id: an
 * open-addressing hash table in typed arrays, so hundreds of thousands of
 * entries cost no garbage collection and about 100 bytes each. Entries are
 * forgotten oldest first (recording order). Ids at or above 2^53 (rare) live
 * in a plain Map beside it, so every id is exact.
 */

/** A remembered transaction, as read back. */
export interface IndexedTransaction {
  readonly customerId: bigint;
  readonly terminalId: bigint;
  /** Event time, Unix seconds. */
  readonly time: number;
  /** 0: no outcome yet, 1: fraud, 2: legitimate. */
  readonly outcome: 0 | 1 | 2;
  readonly knownAt: number;
}

const EMPTY = -1;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const INITIAL_SLOTS = 1 << 14;

function safe(id: bigint): number | undefined {
  return id <= MAX_SAFE ? Number(id) : undefined;
}

/** Mixes an id's bits into a slot number (ids are often sequential). */
function slotOf(id: number, mask: number): number {
  const low = id % 4294967296;
  const high = Math.floor(id / 4294967296);
  let hash = Math.imul(low ^ Math.imul(high, 0x27d4eb2d), 0x9e3779b1);
  hash ^= hash >>> 15;
  return hash & mask;
}

export class TransactionIndex {
  private mask = INITIAL_SLOTS - 1;
  private ids = new Float64Array(INITIAL_SLOTS).fill(EMPTY);
  private customers = new Float64Array(INITIAL_SLOTS);
  private terminals = new Float64Array(INITIAL_SLOTS);
  private times = new Float64Array(INITIAL_SLOTS);
  private knownAts = new Float64Array(INITIAL_SLOTS);
  private outcomes = new Uint8Array(INITIAL_SLOTS);
  private count = 0;
  /** Ids in recording order, a ring: the front is the oldest. */
  private order = new Float64Array(INITIAL_SLOTS);
  private orderStart = 0;
  private orderLength = 0;
  /** Entries whose id, customer or terminal is 2^53 or more. */
  private readonly large = new Map<bigint, { customerId: bigint; terminalId: bigint; time: number; outcome: 0 | 1 | 2; knownAt: number }>();
  /** Large ids in recording order. */
  private readonly largeOrder: bigint[] = [];
  /**
   * Ids recorded again under another customer or terminal (ids are meant to
   * be unique, so this stays small): the later recordings, so a retry of one
   * of them is still known as a repeat.
   */
  private readonly reuses = new Map<bigint, { readonly customerId: bigint; readonly terminalId: bigint }[]>();

  get size(): number {
    return this.count + this.large.size;
  }

  get(id: bigint): IndexedTransaction | undefined {
    const key = safe(id);
    if (key === undefined) return this.large.get(id);
    const slot = this.find(key);
    if (slot < 0) return this.large.get(id);
    return {
      customerId: BigInt(this.customers[slot] as number),
      terminalId: BigInt(this.terminals[slot] as number),
      time: this.times[slot] as number,
      outcome: this.outcomes[slot] as 0 | 1 | 2,
      knownAt: this.knownAts[slot] as number,
    };
  }

  /**
   * True when `id` is remembered with this customer and terminal: a repeat.
   * (Checked on every recording, so it reads without allocating.)
   */
  isRepeat(id: bigint, customerId: bigint, terminalId: bigint): boolean {
    if (this.reuses.size > 0 && this.reuses.get(id)?.some((entry) => entry.customerId === customerId && entry.terminalId === terminalId) === true) return true;
    const key = safe(id);
    const slot = key === undefined ? -1 : this.find(key);
    if (slot < 0) {
      const large = this.large.get(id);
      return large !== undefined && large.customerId === customerId && large.terminalId === terminalId;
    }
    return this.customers[slot] === Number(customerId) && this.terminals[slot] === Number(terminalId) && customerId <= MAX_SAFE && terminalId <= MAX_SAFE;
  }

  /** True when `id` is remembered (under any customer and terminal). */
  has(id: bigint): boolean {
    const key = safe(id);
    return (key !== undefined && this.find(key) >= 0) || this.large.has(id);
  }

  /** True when `id` is remembered at this terminal (under any customer). */
  isAtTerminal(id: bigint, terminalId: bigint): boolean {
    const key = safe(id);
    const slot = key === undefined ? -1 : this.find(key);
    const first = slot >= 0 ? BigInt(this.terminals[slot] as number) : this.large.get(id)?.terminalId;
    if (first === undefined) return false;
    return first === terminalId || this.reuses.get(id)?.some((entry) => entry.terminalId === terminalId) === true;
  }

  /**
   * Remembers a recording of a transaction. The first recording of an id is
   * the one outcomes name; a later one under another customer or terminal is
   * kept as a reuse, so its own retries are known too.
   */
  add(id: bigint, customerId: bigint, terminalId: bigint, time: number): void {
    if (this.has(id)) {
      if (!this.isRepeat(id, customerId, terminalId)) {
        const reuses = this.reuses.get(id) ?? [];
        reuses.push({ customerId, terminalId });
        this.reuses.set(id, reuses);
      }
      return;
    }
    this.addFirst(id, customerId, terminalId, time);
  }

  private addFirst(id: bigint, customerId: bigint, terminalId: bigint, time: number): void {
    const key = safe(id);
    const customer = safe(customerId);
    const terminal = safe(terminalId);
    if (key === undefined || customer === undefined || terminal === undefined) {
      if (!this.large.has(id) && (key === undefined || this.find(key) < 0)) {
        this.large.set(id, { customerId, terminalId, time, outcome: 0, knownAt: 0 });
        this.largeOrder.push(id);
      }
      return;
    }
    if (this.large.has(id)) return;
    if ((this.count + 1) * 2 > this.ids.length) this.grow();
    let slot = slotOf(key, this.mask);
    for (;;) {
      const present = this.ids[slot] as number;
      if (present === key) return;
      if (present === EMPTY) break;
      slot = (slot + 1) & this.mask;
    }
    this.ids[slot] = key;
    this.customers[slot] = customer;
    this.terminals[slot] = terminal;
    this.times[slot] = time;
    this.outcomes[slot] = 0;
    this.knownAts[slot] = 0;
    this.count++;
    this.pushOrder(key);
  }

  /** Records an outcome for a remembered transaction. */
  setOutcome(id: bigint, outcome: 1 | 2, knownAt: number): void {
    const key = safe(id);
    const slot = key === undefined ? -1 : this.find(key);
    if (slot >= 0) {
      this.outcomes[slot] = outcome;
      this.knownAts[slot] = knownAt;
      return;
    }
    const large = this.large.get(id);
    if (large !== undefined) {
      large.outcome = outcome;
      large.knownAt = knownAt;
    }
  }

  /**
   * Forgets, oldest first, entries with an event time before `horizon`, and
   * more while over `limit`; returns how many went for the limit.
   */
  forget(horizon: number, limit: number): number {
    let evicted = 0;
    while (this.orderLength > 0) {
      const key = this.order[this.orderStart] as number;
      const slot = this.find(key);
      const expired = slot < 0 || (this.times[slot] as number) < horizon;
      if (!expired && this.size <= limit) break;
      this.orderStart = (this.orderStart + 1) % this.order.length;
      this.orderLength--;
      if (slot >= 0) {
        this.remove(slot);
        if (this.reuses.size > 0) this.reuses.delete(BigInt(key));
        if (!expired) evicted++;
      }
    }
    while (this.largeOrder.length > 0) {
      const id = this.largeOrder[0] as bigint;
      const entry = this.large.get(id);
      const expired = entry === undefined || entry.time < horizon;
      if (!expired && this.size <= limit) break;
      this.largeOrder.shift();
      this.large.delete(id);
      this.reuses.delete(id);
      if (!expired) evicted++;
    }
    return evicted;
  }

  /** Every remembered transaction, oldest first (for snapshots). */
  *entries(): Generator<[bigint, IndexedTransaction]> {
    for (let index = 0; index < this.orderLength; index++) {
      const key = this.order[(this.orderStart + index) % this.order.length] as number;
      const slot = this.find(key);
      if (slot < 0) continue;
      const id = BigInt(key);
      yield [id, this.get(id) as IndexedTransaction];
    }
    for (const [id, entry] of this.large) yield [id, entry];
  }

  /** Approximate bytes held. */
  get bytes(): number {
    return this.ids.length * 41 + this.order.length * 8 + this.large.size * 160;
  }

  private find(key: number): number {
    let slot = slotOf(key, this.mask);
    for (;;) {
      const present = this.ids[slot] as number;
      if (present === key) return slot;
      if (present === EMPTY) return -1;
      slot = (slot + 1) & this.mask;
    }
  }

  /** Deletes a slot, shifting back the entries of its probe run (linear probing needs no tombstones). */
  private remove(slot: number): void {
    let hole = slot;
    let next = (hole + 1) & this.mask;
    for (;;) {
      const key = this.ids[next] as number;
      if (key === EMPTY) break;
      const home = slotOf(key, this.mask);
      // The entry at `next` may move into the hole if its home is not between the hole and it.
      const movable = hole <= next ? home <= hole || home > next : home <= hole && home > next;
      if (movable) {
        this.moveSlot(next, hole);
        hole = next;
      }
      next = (next + 1) & this.mask;
    }
    this.ids[hole] = EMPTY;
    this.count--;
  }

  private moveSlot(from: number, to: number): void {
    this.ids[to] = this.ids[from] as number;
    this.customers[to] = this.customers[from] as number;
    this.terminals[to] = this.terminals[from] as number;
    this.times[to] = this.times[from] as number;
    this.outcomes[to] = this.outcomes[from] as number;
    this.knownAts[to] = this.knownAts[from] as number;
  }

  private pushOrder(key: number): void {
    if (this.orderLength === this.order.length) {
      const bigger = new Float64Array(this.order.length * 2);
      for (let index = 0; index < this.orderLength; index++) bigger[index] = this.order[(this.orderStart + index) % this.order.length] as number;
      this.order = bigger;
      this.orderStart = 0;
    }
    this.order[(this.orderStart + this.orderLength) % this.order.length] = key;
    this.orderLength++;
  }

  private grow(): void {
    const old = { ids: this.ids, customers: this.customers, terminals: this.terminals, times: this.times, outcomes: this.outcomes, knownAts: this.knownAts };
    const slots = old.ids.length * 2;
    this.mask = slots - 1;
    this.ids = new Float64Array(slots).fill(EMPTY);
    this.customers = new Float64Array(slots);
    this.terminals = new Float64Array(slots);
    this.times = new Float64Array(slots);
    this.outcomes = new Uint8Array(slots);
    this.knownAts = new Float64Array(slots);
    for (let from = 0; from < old.ids.length; from++) {
      const key = old.ids[from] as number;
      if (key === EMPTY) continue;
      let slot = slotOf(key, this.mask);
      while (this.ids[slot] !== EMPTY) slot = (slot + 1) & this.mask;
      this.ids[slot] = key;
      this.customers[slot] = old.customers[from] as number;
      this.terminals[slot] = old.terminals[from] as number;
      this.times[slot] = old.times[from] as number;
      this.outcomes[slot] = old.outcomes[from] as number;
      this.knownAts[slot] = old.knownAts[from] as number;
    }
  }
}

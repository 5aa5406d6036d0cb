import type { StoredEntityRecord } from './entityEviction.js';

/** Event-time seconds from the start of one sweep to the start of the next. */
export const SWEEP_EVERY_SECONDS = 3_600;

/**
 * Entities a recording call visits while a sweep is under way: a few per
 * transaction recorded (more than the two entities a transaction can add, so
 * a sweep ends while the store grows) and a few per call, so a store visited
 * by unary calls is swept too.
 */
export const SWEEP_VISITS_PER_CALL = 64;
export const SWEEP_VISITS_PER_TRANSACTION = 4;

/** Where the store stands when the sweep takes its steps. */
export interface SweepClock {
  /** The store's newest event time (Unix seconds). */
  readonly watermark: number;
  /** The day retention is counted from (the watermark less the lateness). */
  readonly day: number;
}

/**
 * The embedded store's sweep over its customers and terminals: the store
 * drops each entity no window can read any more and, on the first sweep of
 * a day, reclassifies each for eviction (entityEviction.ts). A sweep starts
 * once event time has moved SWEEP_EVERY_SECONDS since the last one started,
 * and visits every entity, a bounded number per recording call, so no call
 * waits for the whole store (a million entities at once hold the event loop
 * for about 100 ms). Until a sweep reaches it, an expired entity only holds
 * memory: recording folds and drops an entity's old days before its
 * features are read, and the entity limit still applies.
 */
export class EntitySweep {
  private pass: Iterator<undefined> | undefined;
  private startedAt = Number.NEGATIVE_INFINITY;
  private reclassifiedDay = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly customers: { values(): Iterable<StoredEntityRecord> },
    private readonly terminals: { values(): Iterable<StoredEntityRecord> },
    /** Drops or reclassifies one entity (it may remove it from its map: iteration goes on). */
    private readonly visit: (entity: StoredEntityRecord, reclassify: boolean) => void,
  ) {}

  /** True while a sweep is under way. */
  get sweeping(): boolean {
    return this.pass !== undefined;
  }

  /** After a recording call of `transactions` transactions: starts a sweep when one is due, and takes its next steps. */
  step(clock: SweepClock, transactions: number): void {
    if (this.pass === undefined && clock.watermark - this.startedAt >= SWEEP_EVERY_SECONDS) this.start(clock);
    this.advance(SWEEP_VISITS_PER_CALL + SWEEP_VISITS_PER_TRANSACTION * transactions);
  }

  /** Ends the sweep under way at once, or makes a whole one (before evicting an established entity: expired ones go first). */
  finish(clock: SweepClock): void {
    if (this.pass === undefined) this.start(clock);
    this.advance(Number.POSITIVE_INFINITY);
  }

  private start(clock: SweepClock): void {
    this.startedAt = clock.watermark;
    const reclassify = clock.day !== this.reclassifiedDay;
    this.reclassifiedDay = clock.day;
    this.pass = this.visitAll(reclassify);
  }

  private advance(visits: number): void {
    for (let visited = 0; this.pass !== undefined && visited < visits; visited++) {
      if (this.pass.next().done === true) this.pass = undefined;
    }
  }

  /** The maps' iterators are live: an entity removed before its turn is skipped, one added meanwhile may be visited. */
  private *visitAll(reclassify: boolean): Generator<undefined, void, undefined> {
    for (const entity of this.customers.values()) {
      this.visit(entity, reclassify);
      yield;
    }
    for (const entity of this.terminals.values()) {
      this.visit(entity, reclassify);
      yield;
    }
  }
}

import type { StoredEntityRecord } from './entityEviction.js';

/** Event-time seconds from the start of one sweep to the start of the next. */
export const SWEEP_EVERY_SECONDS = 3_600;

/**
 * Entities a recording call visits while a sweep is under way: a few per
 * call and per transaction recorded. A sweep ends while the store grows
 * (entities added to a map already swept wait for the next sweep); when
 * event time outruns it, sweeps follow one another and an expired entity
 * waits a little longer (memory only: the entity limit still holds). Each
 * visit costs 50 to 250 ns, so a unary call spends 1 to 3 µs on it.
 */
export const SWEEP_VISITS_PER_CALL = 8;
export const SWEEP_VISITS_PER_TRANSACTION = 2;

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
  private pass: { readonly reclassify: boolean; map: number; entities: MapIterator<StoredEntityRecord> } | undefined;
  private startedAt = Number.NEGATIVE_INFINITY;
  private reclassifiedDay = Number.NEGATIVE_INFINITY;

  constructor(
    /** The maps swept, in this order (the customers' shards, then the terminals'). */
    private readonly maps: readonly ReadonlyMap<unknown, StoredEntityRecord>[],
    /** Drops or reclassifies one entity (it may remove it from its map: iteration goes on). */
    private readonly visit: (entity: StoredEntityRecord, reclassify: boolean) => void,
  ) {}

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
    this.pass = { reclassify, map: 0, entities: (this.maps[0] as ReadonlyMap<unknown, StoredEntityRecord>).values() };
  }

  /**
   * Visits up to `visits` entities. A Map's iterator is live (an entity
   * removed before its turn is skipped, one added meanwhile may be visited)
   * and has no `return`, so leaving a for-of over it leaves it where it
   * stopped, to go on from there at the next step. (for-of, because V8
   * inlines a Map iterator's steps there: called by hand, they cost several
   * times the visit itself.)
   */
  private advance(visits: number): void {
    const pass = this.pass;
    if (pass === undefined) return;
    let visited = 0;
    for (;;) {
      for (const entity of pass.entities) {
        this.visit(entity, pass.reclassify);
        if (++visited >= visits) return;
      }
      if (++pass.map === this.maps.length) {
        this.pass = undefined;
        return;
      }
      pass.entities = (this.maps[pass.map] as ReadonlyMap<unknown, StoredEntityRecord>).values();
    }
  }
}

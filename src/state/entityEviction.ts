import { EntityList } from './entityList.js';
import type { CustomerRecord, TerminalRecord } from './entityRecords.js';

/**
 * Which customers and terminals the embedded store drops first when it holds
 * more than its limit: a segmented policy.
 *
 * An entity is on probation until its retained history holds
 * ESTABLISHED_TRANSACTIONS transactions; then it is established. Probation is
 * evicted first, least recently recorded first; established entities go only
 * when probation is empty. So a flood of one-off ids (each seen once) evicts
 * other one-offs and never a card with a real history, as long as the
 * established entities fit ESTABLISHED_SHARE of the limit. Beyond that share
 * the least recently recorded established entity (approximately: a second
 * chance, CLOCK, so that recording costs no move) goes back to probation (at
 * its recent end), which keeps room for newcomers to establish themselves.
 *
 * Why this and not frequency-aware admission (W-TinyLFU): the features count
 * transactions in windows, so "has a history worth keeping" is exactly "has
 * transactions in its retained history", known for certain from the record
 * itself, with no sketch whose collisions would make which card survives a
 * matter of hashing. Every transaction is still recorded (TinyLFU would
 * refuse to keep a newcomer that loses to its victim, so a new card's second
 * transaction would be scored as its first). Each step is O(1) per recorded
 * transaction (entityList.ts). The cost: under a sustained
 * flood a genuinely new card can be evicted before its third transaction,
 * which the probation evictions metric shows.
 *
 * An established entity whose transactions aged out of its retained history
 * goes back to probation ahead of the rest (reclassify): its history is
 * old, and putting it in its place by time would mean sorting probation.
 */

export type StoredEntityRecord = CustomerRecord | TerminalRecord;
export type Segment = 'probation' | 'established';

/** Transactions in an entity's retained history from which it is established. */
export const ESTABLISHED_TRANSACTIONS = 3;
/** Share of the entity limit established entities may hold; the rest is where newcomers prove themselves. */
export const ESTABLISHED_SHARE = 0.8;

export class SegmentedEviction {
  /** In recording order: the first is the least recently recorded. */
  private readonly probation = new EntityList<StoredEntityRecord>();
  /** On probation because their transactions aged out (reclassify): evicted before the rest, in the order found. */
  private readonly aged = new EntityList<StoredEntityRecord>();
  /** In promotion order, recorded ones moved back as the second chance passes them. */
  private readonly established = new EntityList<StoredEntityRecord>();
  private readonly establishedLimit: number;

  constructor(maxEntities: number) {
    this.establishedLimit = Math.max(1, Math.floor(maxEntities * ESTABLISHED_SHARE));
  }

  get probationSize(): number {
    return this.probation.size + this.aged.size;
  }

  get establishedSize(): number {
    return this.established.size;
  }

  /**
   * After an entity recorded a transaction (new entities included): it moves
   * to the recent end of its segment, and is established once its retained
   * history holds enough transactions.
   */
  recorded(entity: StoredEntityRecord): void {
    if (entity.list === this.established) {
      // Second chance (CLOCK) rather than a move per transaction: the order is only read to demote.
      entity.recentlyRecorded = true;
      return;
    }
    this.leave(entity);
    if (entity.transactionsFrom(Number.NEGATIVE_INFINITY, ESTABLISHED_TRANSACTIONS) < ESTABLISHED_TRANSACTIONS) {
      this.probation.append(entity);
      return;
    }
    this.established.append(entity);
    if (this.established.size > this.establishedLimit) this.demoteLeastRecent();
  }

  /**
   * Demotes the established entity recorded least recently, approximately:
   * the first in promotion order not recorded since it was last passed over
   * (those recorded meanwhile go to the back, once each).
   */
  private demoteLeastRecent(): void {
    for (let entity = this.established.first; entity !== undefined; entity = this.established.first) {
      if (!entity.recentlyRecorded) {
        this.demote(entity, this.probation);
        return;
      }
      entity.recentlyRecorded = false;
      this.established.moveToBack(entity);
    }
  }

  /** A restored entity, placed by its retained transactions (restore order is oldest first). */
  restored(entity: StoredEntityRecord, firstDay: number): void {
    this.leave(entity);
    this.probation.append(entity);
    if (entity.transactionsFrom(firstDay, ESTABLISHED_TRANSACTIONS) >= ESTABLISHED_TRANSACTIONS) this.recorded(entity);
  }

  /** The entity is gone from the store (expired or evicted). */
  removed(entity: StoredEntityRecord): void {
    this.leave(entity);
  }

  /** The next entity to evict and its segment, or undefined when the store is empty. */
  victim(): { entity: StoredEntityRecord; segment: Segment } | undefined {
    const onProbation = this.aged.first ?? this.probation.first;
    if (onProbation !== undefined) return { entity: onProbation, segment: 'probation' };
    const established = this.established.first;
    return established === undefined ? undefined : { entity: established, segment: 'established' };
  }

  /**
   * Sends an established entity back to probation, ahead of the rest, when
   * its transactions from `firstDay` on are now too few (its days aged out
   * without new ones). The store calls it for every entity once a day, a
   * few at a time (memoryStateStore.ts, the sweep).
   */
  reclassify(entity: StoredEntityRecord, firstDay: number): void {
    if (entity.list !== this.established || entity.transactionsFrom(firstDay, ESTABLISHED_TRANSACTIONS) >= ESTABLISHED_TRANSACTIONS) return;
    this.demote(entity, this.aged);
  }

  private demote(entity: StoredEntityRecord, to: EntityList<StoredEntityRecord>): void {
    this.established.remove(entity);
    entity.recentlyRecorded = false;
    to.append(entity);
  }

  /** Takes the entity out of whichever segment holds it. */
  private leave(entity: StoredEntityRecord): void {
    entity.list?.remove(entity);
  }
}

import type { EntityKey } from './entityKey.js';

/** Maps an entity map is split into (a power of two). */
export const SHARDS = 64;
const SHARD_BITS = 6;

/** The shard of a key: its bits mixed (ids are often sequential, or multiples of 10^k), the top SHARD_BITS kept. */
export function shardOf(key: EntityKey): number {
  let low: number;
  let high: number;
  if (typeof key === 'number') {
    low = key >>> 0;
    high = Math.floor(key / 4_294_967_296) >>> 0;
  } else {
    // Decimal text of an id of 2^53 or more (entityKey.ts): rare, hashed by its characters.
    low = 0;
    for (let index = 0; index < key.length; index++) low = Math.imul(low ^ key.charCodeAt(index), 0x01000193);
    high = key.length;
  }
  return Math.imul(low ^ Math.imul(high, 0x27d4eb2d), 0x9e3779b1) >>> (32 - SHARD_BITS);
}

/**
 * The embedded store's customers or terminals by key, in SHARDS Maps rather
 * than one. A Map doubles its table as it grows and re-inserts every entry
 * inside the call that crosses the size (570 ms at four million keys); a
 * shard holds a 64th of them, so no call waits for more than a 64th of the
 * store (under 20 ms at the largest entity limit). Iteration goes shard by
 * shard, each in insertion order, and is live as a Map's is: an entry
 * removed before its turn is skipped, one added meanwhile may be visited.
 */
export class EntityMap<V> {
  /** The shards, each a Map of its keys (fixed: iterating one is iterating that part of the map, live). */
  readonly shards: readonly Map<EntityKey, V>[] = Array.from({ length: SHARDS }, () => new Map<EntityKey, V>());
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: EntityKey): V | undefined {
    return (this.shards[shardOf(key)] as Map<EntityKey, V>).get(key);
  }

  has(key: EntityKey): boolean {
    return (this.shards[shardOf(key)] as Map<EntityKey, V>).has(key);
  }

  set(key: EntityKey, value: V): this {
    const shard = this.shards[shardOf(key)] as Map<EntityKey, V>;
    const before = shard.size;
    shard.set(key, value);
    this.count += shard.size - before;
    return this;
  }

  delete(key: EntityKey): boolean {
    const deleted = (this.shards[shardOf(key)] as Map<EntityKey, V>).delete(key);
    if (deleted) this.count--;
    return deleted;
  }

  *keys(): Generator<EntityKey, void, undefined> {
    for (const shard of this.shards) yield* shard.keys();
  }

  *values(): Generator<V, void, undefined> {
    for (const shard of this.shards) yield* shard.values();
  }

  *entries(): Generator<[EntityKey, V], void, undefined> {
    for (const shard of this.shards) yield* shard.entries();
  }

  [Symbol.iterator](): Generator<[EntityKey, V], void, undefined> {
    return this.entries();
  }
}

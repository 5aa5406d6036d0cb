import assert from 'node:assert/strict';
import { keyOf } from '../../src/state/entityKey.js';
import { EntityMap, SHARDS, shardOf } from '../../src/state/entityMap.js';

/** How many of `keys` each shard gets. */
function spread(keys: Iterable<number | string>): number[] {
  const counts = new Array<number>(SHARDS).fill(0);
  for (const key of keys) counts[shardOf(key)] = (counts[shardOf(key)] as number) + 1;
  return counts;
}

function* ids(count: number, step: bigint, from = 1n): Generator<number | string> {
  for (let index = 0n; index < BigInt(count); index++) yield keyOf(from + index * step);
}

describe('the entity map (customers or terminals by key, in shards)', () => {
  it('should get, set, replace and delete number and text keys, keeping its size', () => {
    const map = new EntityMap<string>();
    const big = keyOf(2n ** 63n + 5n);
    assert.equal(typeof big, 'string');
    map.set(1, 'one').set(big, 'big').set(2 ** 40, 'large');
    assert.equal(map.size, 3);
    map.set(1, 'uno');
    assert.equal(map.size, 3, 'replacing keeps the size');
    assert.equal(map.get(1), 'uno');
    assert.equal(map.get(big), 'big');
    assert.ok(map.has(2 ** 40) && !map.has(3));
    assert.equal(map.delete(3), false);
    assert.equal(map.delete(big), true);
    assert.equal(map.size, 2);
    assert.deepEqual([...map.keys()].sort(), [1, 2 ** 40].sort());
    assert.deepEqual(new Map(map.entries()), new Map<number | string, string>([[1, 'uno'], [2 ** 40, 'large']]));
  });

  it('should spread ids over every shard, within half of the mean either way: sequential ones, multiples of 1000, ids of 2^53 and more', () => {
    for (const [name, keys] of [
      ['sequential', ids(64_000, 1n)],
      ['multiples of 1000', ids(64_000, 1_000n)],
      ['multiples of 2^32', ids(64_000, 2n ** 32n)],
      ['2^53 and more', ids(64_000, 7n, 2n ** 60n)],
    ] as const) {
      const counts = spread(keys);
      assert.ok(Math.min(...counts) >= 500 && Math.max(...counts) <= 1_500, `${name}: ${Math.min(...counts)} to ${Math.max(...counts)} a shard`);
    }
  });

  it('should iterate live: an entry deleted before its turn is skipped, every other one visited once', () => {
    const map = new EntityMap<number>();
    for (let key = 1; key <= 1_000; key++) map.set(key, key);
    const seen: number[] = [];
    for (const value of map.values()) {
      seen.push(value);
      // Deletes the next key, wherever its shard is: visited only if its shard came before.
      if (value % 2 === 1) map.delete(value + 1);
    }
    assert.equal(new Set(seen).size, seen.length, 'each once');
    assert.equal(map.size, 1_000 - 500);
    for (let key = 1; key <= 1_000; key += 2) assert.ok(seen.includes(key), `${key} visited`);
  });
});

/**
 * Bytes of Redis memory per card, terminal and remembered transaction of the
 * Redis store: a real redis-server is filled through the store with one kind
 * at a time, in the shapes bench/stateSizing.ts fills the embedded store with
 * (a card with two transactions a day for 30 days, a terminal with two a day
 * for 38), then every key but that kind's is deleted, the data set is
 * reloaded (DEBUG RELOAD: tables sized to what is left, no connection
 * buffers), and the `used_memory` Redis grew by is divided by the count. A card is its `{c:<id>}` key; a
 * terminal its `{t:<id>}` key and id set; a remembered transaction its
 * `{x:<id>}` key and kept scores (none here).
 *
 *   npm run build && node dist/bench/redisSizing.js     prints the table
 */
import { fileURLToPath } from 'node:url';
import { historyDays, loadFeatureSpec } from '../src/features/featureSpec.js';
import { RedisServer, startRedisStateStore } from '../test/helpers/redis.js';
import { DAY, sizingBatches, type Kind } from './stateSizing.js';

/** Fewer than the embedded figure's: every transaction is a round trip's work for redis-server. */
const KINDS: Readonly<Record<Kind, number>> = { card: 3_000, terminal: 3_000, transaction: 100_000 };
const KEY_PREFIX = 'sizing:';
/** Which keys hold each kind (after the prefix). */
const KEYS_OF: Readonly<Record<Kind, RegExp>> = { card: /^\{c:\d+\}$/, terminal: /^\{t:\d+\}(:ids)?$/, transaction: /^\{x:\d+\}(:s)?$/ };

export interface RedisMeasured {
  readonly kind: Kind;
  readonly count: number;
  /** used_memory grown per entity, bytes. */
  readonly bytes: number;
}

async function usedMemory(redis: RedisServer): Promise<number> {
  const info = await redis.admin.info('memory');
  const used = /used_memory:(\d+)/.exec(info)?.[1];
  if (used === undefined) throw new Error('INFO memory has no used_memory');
  return Number(used);
}

/** Deletes (synchronously: DEL, not UNLINK, so used_memory is settled) every key but `kind`'s. */
async function keepOnly(redis: RedisServer, kind: Kind): Promise<void> {
  const others: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.admin.scan(cursor, 'COUNT', 10_000);
    cursor = next;
    for (const key of keys) if (!KEYS_OF[kind].test(key.startsWith(KEY_PREFIX) ? key.slice(KEY_PREFIX.length) : key)) others.push(key);
  } while (cursor !== '0');
  for (let start = 0; start < others.length; start += 1_000) await redis.admin.del(...others.slice(start, start + 1_000));
}

/**
 * used_memory of the data set alone: DEBUG RELOAD writes it to an RDB file and loads it back,
 * so the tables sized for keys since deleted and the store's closed connection's buffers are gone.
 */
async function settledUsedMemory(redis: RedisServer): Promise<number> {
  await redis.admin.call('DEBUG', 'RELOAD');
  return usedMemory(redis);
}

async function measure(redis: RedisServer, kind: Kind, count: number): Promise<RedisMeasured> {
  await redis.admin.flushall('SYNC');
  const before = await settledUsedMemory(redis);
  const store = await startRedisStateStore(redis, { keyPrefix: KEY_PREFIX, latenessSeconds: DAY, historyDays: historyDays(loadFeatureSpec()), timeoutMs: 60_000 });
  try {
    // Event times of the last 40 days: keys expire by the clock.
    const start = Math.floor(Date.now() / 1000) - 40 * DAY;
    for (const batch of sizingBatches(kind, count, start)) await store.record(batch, () => undefined, { allOrNothing: false });
  } finally {
    await store.close();
  }
  await keepOnly(redis, kind);
  return { kind, count, bytes: ((await settledUsedMemory(redis)) - before) / count };
}

/** Each kind in turn on one redis-server, emptied in between. */
export async function redisSizingFigures(): Promise<RedisMeasured[]> {
  const redis = await RedisServer.start({ args: ['--enable-debug-command', 'local'] });
  try {
    const results: RedisMeasured[] = [];
    for (const kind of Object.keys(KINDS) as Kind[]) results.push(await measure(redis, kind, KINDS[kind]));
    return results;
  } finally {
    await redis.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`${'kind'.padEnd(24)}${'count'.padStart(10)}${'used_memory bytes each'.padStart(24)}`);
  for (const result of await redisSizingFigures()) console.log(`${result.kind.padEnd(24)}${String(result.count).padStart(10)}${result.bytes.toFixed(0).padStart(24)}`);
}

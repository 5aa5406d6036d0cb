import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisScript } from '../../src/state/redisCommands.js';
import { CALLS_PER_EARLY_WRITE, RedisTurns } from '../../src/state/redisTurns.js';
import { RedisServer } from '../helpers/redis.js';

/** Appends ARGV[1] to KEYS[1] and replies the value: the order of the calls on one key shows. */
const APPEND = new RedisScript(`redis.call('APPEND', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])`);
const CALLS_PER_OPERATION = 3;

describe('Redis turns: the operations of one event-loop turn', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let client: Redis;
  let turns: RedisTurns;
  before(async () => {
    redis = await RedisServer.start();
    client = new Redis(redis.url, { lazyConnect: true });
    await client.connect();
    turns = new RedisTurns({ client, durability: undefined, onAnswered: () => undefined });
  });
  after(async () => {
    client.disconnect();
    await redis.stop();
  });

  it(`should write a turn as soon as its operations make ${CALLS_PER_EARLY_WRITE} calls, not at its end, and answer every operation in order`, async () => {
    const keys = ['a', 'b', 'c', 'd', 'e'];
    const expected = new Map<string, string>();
    const operations: { replies: Promise<unknown[]>; expected: string[] }[] = [];
    const operation = (index: number): void => {
      const calls = Array.from({ length: CALLS_PER_OPERATION }, (_, call) => ({ key: `turn:${keys[(index + call) % keys.length] ?? ''}`, arg: `${index}.${call},` }));
      operations.push({
        replies: turns.add((batch) => {
          for (const { key, arg } of calls) batch.script(APPEND, [key], [arg]);
        }),
        expected: calls.map(({ key, arg }) => {
          const value = (expected.get(key) ?? '') + arg;
          expected.set(key, value);
          return value;
        }),
      });
    };
    const belowEarlyWrite = Math.ceil(CALLS_PER_EARLY_WRITE / CALLS_PER_OPERATION) - 1;
    operation(0);
    let written = false;
    turns.whenWritten(() => (written = true));
    for (let index = 1; index < belowEarlyWrite; index++) operation(index);
    assert.equal(written, false, `${belowEarlyWrite * CALLS_PER_OPERATION} calls: the turn waits for its end`);
    operation(belowEarlyWrite);
    assert.equal(written, true, `${(belowEarlyWrite + 1) * CALLS_PER_OPERATION} calls: written at once`);
    // The rest of the turn goes at its end, after the part written early.
    for (let index = belowEarlyWrite + 1; index < belowEarlyWrite + 10; index++) operation(index);
    for (const { replies, expected: values } of operations) {
      assert.deepEqual(((await replies) as Buffer[]).map(String), values);
    }
  });
});

import assert from 'node:assert/strict';
import calculateSlot from 'cluster-key-slot';
import { createLogger } from '../../src/observability/logger.js';
import type { PlainForm } from '../../src/state/redisCommands.js';
import { RedisConnection } from '../../src/state/redisConnection.js';
import { RedisServer } from '../helpers/redis.js';

/** Appends ARGV[1] to KEYS[1] and replies the value: the order of the calls on one key shows. */
const APPEND = `redis.call('APPEND', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])`;
/** A script that only wraps GET, with GET as its plain form. */
const READ = `return redis.call('GET', KEYS[1])`;
const READ_PLAIN: PlainForm = ([key = '']) => ({ name: 'GET', args: [key] });
/** Replies nothing for 'none', else its argument. */
const MAYBE = `if ARGV[1] == 'none' then return nil end return ARGV[1]`;

async function evalshaCalls(redis: RedisServer): Promise<number> {
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(await redis.command('INFO', 'commandstats'))?.[1] ?? 0);
}

/** The calls of the tests: `count` appends over 40 keys, `tag` apart between runs. */
function appends(count: number, tag: string): { key: string; arg: string }[] {
  return Array.from({ length: count }, (_, index) => ({ key: `${tag}:k${index % 40}`, arg: `${index},` }));
}

/** What the appends reply, computed here: each key's value after each call. */
function expectedAppends(calls: readonly { key: string; arg: string }[]): string[] {
  const values = new Map<string, string>();
  return calls.map(({ key, arg }) => {
    const value = (values.get(key) ?? '') + arg;
    values.set(key, value);
    return value;
  });
}

for (const cluster of [false, true]) {
  describe(`Redis grouped script calls (${cluster ? 'a server with cluster support, one node serving every slot' : 'a single server'})`, function () {
    this.timeout(60_000);
    let redis: RedisServer;
    let connection: RedisConnection;
    let append: ReturnType<RedisConnection['script']>;
    let maybe: ReturnType<RedisConnection['script']>;
    let read: ReturnType<RedisConnection['script']>;
    before(async () => {
      redis = await RedisServer.start({ cluster });
      connection = new RedisConnection({ url: redis.url, password: undefined, timeoutMs: 5_000, logger: createLogger('silent', { write: () => undefined }) });
      append = connection.script(APPEND);
      maybe = connection.script(MAYBE);
      read = connection.script(READ, READ_PLAIN);
      connection.connect();
      await connection.ready;
    });
    after(async () => {
      await connection.close();
      await redis.stop();
    });

    it('should send a call alone of a script that wraps one command as that command, and calls together as the script', async () => {
      await redis.admin.set('{plain}:a', 'A');
      await redis.admin.set('{plain}:b', 'B');
      const before = await evalshaCalls(redis);
      const alone = await connection.roundTrip(1, (batch) => {
        batch.grouped(read, ['{plain}:a'], []);
      });
      assert.deepEqual(alone.map(String), ['A']);
      assert.equal(await evalshaCalls(redis), before, 'alone: a GET, no script');
      // One hash tag: one slot, so the two share a group on either server.
      const together = await connection.roundTrip(2, (batch) => {
        batch.grouped(read, ['{plain}:a'], []);
        batch.grouped(read, ['{plain}:b'], []);
      });
      assert.deepEqual(together.map(String), ['A', 'B']);
      assert.equal(await evalshaCalls(redis), before + 1, 'together: one grouped script');
    });

    it('should answer each call in the order made, with plain calls between them, and each key seeing its calls in order', async () => {
      const calls = appends(300, 'order');
      const replies = await connection.roundTrip(calls.length + 2, (batch) => {
        batch.get('order:k0');
        calls.forEach(({ key, arg }, index) => {
          batch.grouped(append, [key], [arg]);
          if (index === 150) batch.script(maybe, ['order:other'], ['plain']);
        });
      });
      const strings = replies.map((reply) => (reply === null ? null : (reply as Buffer).toString()));
      const expected: (string | null)[] = [null, ...expectedAppends(calls)];
      expected.splice(152, 0, 'plain');
      assert.deepEqual(strings, expected);
    });

    it(
      cluster
        ? 'should send one command per slot and group of at most 128 calls, so that no script crosses slots'
        : 'should send one command per group of at most 128 calls of a script, whatever the keys',
      async () => {
        const calls = appends(300, 'count');
        const before = await evalshaCalls(redis);
        await connection.roundTrip(calls.length, (batch) => {
          for (const { key, arg } of calls) batch.grouped(append, [key], [arg]);
        });
        const slots = new Set(calls.map(({ key }) => calculateSlot(key)));
        // Per slot: 300 calls over 40 keys are 7 or 8 per key, under 128 per slot unless keys share one.
        const perSlot = [...slots].reduce((sum, slot) => sum + Math.ceil(calls.filter(({ key }) => calculateSlot(key) === slot).length / 128), 0);
        assert.equal((await evalshaCalls(redis)) - before, cluster ? perSlot : Math.ceil(300 / 128));
      },
    );

    it('should answer nil for a call that returns nothing, and keep the calls after it', async () => {
      const args = ['a', 'none', 'b', 'none', 'c'];
      const replies = await connection.roundTrip(args.length, (batch) => {
        for (const arg of args) batch.grouped(maybe, ['nil:key'], [arg]);
      });
      assert.deepEqual(
        replies.map((reply) => (reply === null ? null : (reply as Buffer).toString())),
        ['a', null, 'b', null, 'c'],
      );
    });

    it('should send a grouped command again with its source when Redis lost its scripts (NOSCRIPT)', async () => {
      await redis.command('SCRIPT', 'FLUSH');
      const calls = appends(200, 'flushed');
      const replies = await connection.roundTrip(calls.length, (batch) => {
        for (const { key, arg } of calls) batch.grouped(append, [key], [arg]);
      });
      assert.deepEqual(
        replies.map((reply) => (reply as Buffer).toString()),
        expectedAppends(calls),
      );
    });
  });
}

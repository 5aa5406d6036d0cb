import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { FeatureBuilder } from '../../src/features/featureBuilder.js';
import { historyDays, isWindowFeature, loadFeatureSpec } from '../../src/features/featureSpec.js';
import { MemoryStateStore } from '../../src/state/memoryStateStore.js';
import type { RedisStateStore } from '../../src/state/redisStateStore.js';
import { StateUnavailableError, type HistoryConsumer, type StateStore, type TransactionEvent } from '../../src/state/stateStore.js';
import type { RedisFailureReason } from '../../src/state/redisConnection.js';
import { RedisServer, startRedisStateStore } from '../helpers/redis.js';
import { tool } from '../helpers/tools.js';

const spec = loadFeatureSpec();
const DAY = 86_400;
const LATENESS = 3_600;
const START = spec.epochSeconds + 10 * DAY;
/** Transactions per round trip in the Redis store (MAX_TRANSACTIONS_PER_ROUND_TRIP). */
const ROUND_TRIP = 256;
const builder = new FeatureBuilder(
  spec,
  [...spec.features.values()].filter(isWindowFeature).map((feature) => feature.name),
);

function features(event: TransactionEvent, history: Parameters<HistoryConsumer>[1]): Record<string, number> {
  return builder.describe({ transactionId: event.id, txAmount: event.amount, txDatetime: new Date(event.time * 1000), features: {} }, history);
}

/** What a store answers for one call: late ones, and each recorded one's features and duplicate flag. */
async function answers(store: StateStore, batch: readonly TransactionEvent[], allOrNothing: boolean, onEach?: (index: number) => void): Promise<unknown> {
  const seen: unknown[] = [];
  const late = await store.record(
    batch,
    (index, history) => {
      seen.push({ index, duplicate: history.duplicate, features: features(batch[index] as TransactionEvent, history) });
      onEach?.(index);
    },
    { allOrNothing },
  );
  return { late, seen };
}

/** `count` transactions of 40 customers at 15 terminals, a second apart from `from`, ids from `firstId`. */
function transactions(count: number, firstId: number, from: number): TransactionEvent[] {
  return Array.from({ length: count }, (_, index) => ({
    id: BigInt(firstId + index),
    customerId: BigInt(1 + ((index * 7) % 40)),
    terminalId: BigInt(1 + ((index * 11) % 15)),
    amount: 5 + ((index * 37) % 400),
    time: from + index,
  }));
}

/**
 * Outcomes of `recorded` (each must find its transaction, once), then every
 * customer's and terminal's history as a new transaction of each sees it
 * (recorded in both stores alike): equal answers mean equal state.
 */
async function probeAll(store: StateStore, recorded: readonly TransactionEvent[], firstId: number, time: number): Promise<unknown[]> {
  const outcomes = await store.reportOutcomes(recorded.map((event, index) => ({ transactionId: event.id, outcome: index % 3 === 0 ? 'fraud' : 'legitimate', knownAt: event.time + 60 })));
  const probes: TransactionEvent[] = [];
  for (let customer = 1; customer <= 40; customer++) probes.push({ id: BigInt(firstId + customer), customerId: BigInt(customer), terminalId: 1000n, amount: 50, time });
  for (let terminal = 1; terminal <= 15; terminal++) probes.push({ id: BigInt(firstId + 100 + terminal), customerId: 1000n + BigInt(terminal), terminalId: BigInt(terminal), amount: 50, time });
  return [outcomes, await answers(store, probes, false)];
}

/** Blocks this process (no timers, no I/O) until `done` is true and at least `ms` have passed (10 s at most). */
function block(ms: number, done: () => boolean = () => true): void {
  const started = performance.now();
  while (performance.now() < started + ms || !done()) {
    // Busy on purpose: the event loop must not run.
    if (performance.now() > started + 10_000) throw new Error('the condition never came while blocked');
  }
}

/** How many EVALSHA calls Redis has run (read synchronously, with the event loop blocked). */
function evalshaCalls(redis: RedisServer): number {
  const stats = execFileSync(tool('redis-cli'), ['-p', String(redis.port), 'INFO', 'commandstats'], { encoding: 'utf8' });
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

describe('Redis store batches: a timeout per round trip, and a failed batch safe to retry', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(async () => {
    await redis.stop();
  });

  let prefixes = 0;
  async function store(timeoutMs: number, onFailure?: (reason: RedisFailureReason) => void): Promise<RedisStateStore> {
    return startRedisStateStore(redis, { timeoutMs, keyPrefix: `batch${++prefixes}:`, latenessSeconds: LATENESS, historyDays: historyDays(spec), onFailure });
  }

  function memory(): MemoryStateStore {
    return new MemoryStateStore({ latenessSeconds: LATENESS, historyDays: historyDays(spec), maxEntities: 100_000, maxTransactions: 100_000 });
  }

  it('should count the timeout from when the commands are written, not from when the call was made', async () => {
    const redisStore = await store(300);
    try {
      // Called from an immediate, so the commands go out at the next one, after the timers: a timer started
      // with the call has expired by then. This process is busy (a batch decoded, a collection) before the
      // commands go out: Redis is not late.
      const call = await new Promise<Promise<unknown>>((resolveCall) => {
        setImmediate(() => {
          const started = answers(redisStore, transactions(1, 1, START), true);
          block(1_000);
          resolveCall(started);
        });
      });
      await call;
    } finally {
      await redisStore.close();
    }
  });

  it('should take an answer that arrived while this process was busy, not time out on it', async () => {
    const redisStore = await store(50);
    try {
      const before = evalshaCalls(redis);
      // One transaction: one round trip, its customer's and its terminal's scripts.
      const call = answers(redisStore, transactions(1, 1, START), true);
      // Blocked right after the commands are written, until Redis has run them and the timeout has passed.
      setImmediate(() => {
        block(500, () => evalshaCalls(redis) >= before + 2);
      });
      await call;
    } finally {
      await redisStore.close();
    }
  });

  it('should keep waiting while an answer that takes longer than the timeout to read keeps arriving', async () => {
    const redisStore = await store(250);
    const size = 32 * 1024 * 1024;
    await redis.admin.set('batch:large', Buffer.alloc(size, 7));
    // Each chunk read (64 KB) costs this process 3 ms: the 32 MB answer takes about 1.5 s to read, six times the
    // timeout, never long without a byte.
    const stream = (redisStore.connection.client as Redis).stream;
    const slowReader = (): void => {
      block(3);
    };
    stream.on('data', slowReader);
    try {
      const [value] = await redisStore.connection.roundTrip(1, (batch) => {
        batch.get('batch:large');
      });
      assert.equal((value as Buffer).length, size);
    } finally {
      stream.off('data', slowReader);
      await redisStore.close();
    }
  });

  // The timeout is 1 s, not the default 100 ms: on a loaded machine redis-server itself may not run for 100 ms
  // (the tests above pin the timeout's rules; `node dist/bench/redisBench.js` reports batches at the default).
  it(`should record a 10,000-transaction batch in round trips of ${ROUND_TRIP}, as the embedded store does`, async () => {
    const redisStore = await store(1_000);
    const embedded = memory();
    try {
      const batch = transactions(10_000, 1, START);
      const started = performance.now();
      const actual = await answers(redisStore, batch, true);
      const redisMs = performance.now() - started;
      const expected = await answers(embedded, batch, true);
      assert.deepEqual(actual, expected);
      console.log(`      10,000 transactions in ${redisMs.toFixed(0)} ms`);
    } finally {
      await redisStore.close();
    }
  });

  // Round trips are pipelined: those written before the failure run (a frozen Redis runs them once thawed), so the
  // failed call leaves a prefix of whole round trips recorded, at least the first, how many depending on timing.
  for (const failure of ['Redis frozen (SIGSTOP)', 'the connection dropped'] as const) {
    it(`should fail a batch whose round trip fails (${failure}) with UNAVAILABLE, and, retried, answer and leave the state of one successful call`, async () => {
      // fraud_state_errors_total counts failed calls: one for the failed batch, whatever its round trips in flight do.
      const failures: RedisFailureReason[] = [];
      let failedCalls = 0;
      const redisStore = await store(200, (reason) => failures.push(reason));
      const embedded = memory();
      try {
        // History before: the batch's customers and terminals are known, some of its transactions are retries.
        const earlier = transactions(300, 1, START);
        for (const each of [redisStore, embedded]) await answers(each, earlier, true);
        const batch = [...earlier.slice(0, 20), ...transactions(1_000, 10_001, START + 400), ...earlier.slice(200, 220)];
        let failed: unknown;
        let fired = false;
        try {
          // The first round trip is answered; before the second goes out, Redis fails.
          await answers(redisStore, batch, true, (index) => {
            if (index !== ROUND_TRIP - 1 || fired) return;
            fired = true;
            if (failure === 'Redis frozen (SIGSTOP)') redis.freeze();
            else execFileSync(tool('redis-cli'), ['-p', String(redis.port), 'CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes']);
          });
        } catch (error) {
          failed = error;
          failedCalls++;
        } finally {
          redis.thaw();
        }
        assert.ok(failed instanceof StateUnavailableError, `failed with ${String(failed)}`);
        assert.ok(fired);
        // The client retries the whole call: each transaction is recorded once, and answered as the embedded store answers.
        const expected = await answers(embedded, batch, true);
        let retried: unknown;
        for (let attempt = 0; retried === undefined; attempt++) {
          try {
            retried = await answers(redisStore, batch, true);
          } catch (error) {
            // Still reconnecting: the retry is retried, as a client with backoff would.
            if (!(error instanceof StateUnavailableError) || attempt > 200) throw error;
            failedCalls++;
            await redisStore.ready;
            await new Promise((wake) => setTimeout(wake, 20));
          }
        }
        assert.equal(failures.length, failedCalls, `failures counted: ${failures.join(', ')}`);
        // The same features for every transaction; what the failed call recorded is now a duplicate (counted once, flagged).
        const flagged = expected as { late: unknown[]; seen: { index: number; duplicate: boolean }[] };
        const retriedSeen = (retried as { seen: { index: number; duplicate: boolean }[] }).seen;
        let newlyDuplicate = 0;
        retriedSeen.forEach((each, position) => {
          if (each.duplicate !== flagged.seen[position]?.duplicate) newlyDuplicate = position + 1;
        });
        const recordedByFailedCall = ROUND_TRIP * Math.ceil(newlyDuplicate / ROUND_TRIP);
        console.log(`      the failed call recorded ${recordedByFailedCall} transactions`);
        assert.ok(recordedByFailedCall >= ROUND_TRIP, `the failed call recorded its first round trip (${recordedByFailedCall} recorded)`);
        assert.deepEqual(retried, {
          late: flagged.late,
          seen: flagged.seen.map((each) => ({ ...each, duplicate: each.duplicate || each.index < recordedByFailedCall })),
        });
        // Probed 10 days later: terminal windows end 7 days before the transaction's day, so they see the batch's day then.
        const probed = await probeAll(redisStore, batch, 100_000, START + 10 * DAY);
        assert.deepEqual(probed, await probeAll(embedded, batch, 100_000, START + 10 * DAY));
        // Every transaction of the batch was found by its outcome (first report applied, repeats in the batch duplicates).
        assert.ok((probed[0] as { status: string }[]).every((result) => result.status === 'applied' || result.status === 'duplicate'));
      } finally {
        redis.thaw();
        await redisStore.close();
      }
    });
  }

  it('should fail a call whose writes no replica confirmed (FRAUD_REDIS_WAIT_REPLICAS), with UNAVAILABLE, and count it', async () => {
    const failures: string[] = [];
    // This server has no replica: WAIT 1 never gets its confirmation.
    const redisStore = await startRedisStateStore(redis, {
      timeoutMs: 1_000,
      keyPrefix: 'wait:',
      latenessSeconds: LATENESS,
      historyDays: historyDays(spec),
      waitReplicas: 1,
      onFailure: (reason) => failures.push(reason),
    });
    const plain = await startRedisStateStore(redis, { timeoutMs: 1_000, keyPrefix: 'wait:', latenessSeconds: LATENESS, historyDays: historyDays(spec) });
    try {
      const event = transactions(1, 1, START);
      await assert.rejects(answers(redisStore, event, true), (error: unknown) => error instanceof StateUnavailableError && /0 of 1 replicas confirmed the writes within 500 ms \(FRAUD_REDIS_WAIT_REPLICAS\)/.test(error.message));
      assert.deepEqual(failures, ['replicas_behind']);
      // The primary has the writes: a retry (here without WAIT) finds the transaction recorded once.
      const retried = (await answers(plain, event, true)) as { seen: { duplicate: boolean; features: Record<string, number> }[] };
      const [first] = retried.seen;
      assert.ok(first !== undefined);
      assert.equal(first.duplicate, true);
      assert.equal(first.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 1);
    } finally {
      await redisStore.close();
      await plain.close();
    }
  });

  // Round trips are pipelined: the second one's scripts run before the first one's repairs reach Redis.
  it('should carry what one round trip refused to the round trips after it: counts taken back and index entries to forget', async () => {
    const redisStore = await store(1_000);
    const embedded = memory();
    try {
      const now = START + 8 * DAY;
      const newest: TransactionEvent = { id: 1n, customerId: 1n, terminalId: 1n, amount: 10, time: now };
      // Late for its customer (8 days behind), the first at terminal 7: the terminal counts it, the customer refuses it.
      const late: TransactionEvent = { id: 2n, customerId: 1n, terminalId: 7n, amount: 20, time: START };
      const batch = Array.from({ length: 300 }, (_, index): TransactionEvent => ({ id: BigInt(1_000 + index), customerId: BigInt(3 + (index % 30)), terminalId: BigInt(100 + (index % 20)), amount: 5 + index, time: now + index }));
      batch[100] = late;
      // In the next round trip: the same late transaction again, and a transaction at terminal 7 whose
      // 1-day window (7 days delayed) covers the late one's day, as the embedded store never counted it.
      batch[ROUND_TRIP + 24] = late;
      batch[ROUND_TRIP + 30] = { id: 3n, customerId: 2n, terminalId: 7n, amount: 30, time: now + 1_000 };
      for (const each of [redisStore, embedded]) await answers(each, [newest], true);
      const actual = (await answers(redisStore, batch, false)) as { late: { index: number }[]; seen: { index: number; features: Record<string, number> }[] };
      assert.deepEqual(actual, await answers(embedded, batch, false));
      assert.deepEqual(
        actual.late.map((each) => each.index),
        [100, ROUND_TRIP + 24],
      );
      assert.equal(actual.seen.find((each) => each.index === ROUND_TRIP + 30)?.features.TERMINAL_ID_NB_TX_1DAY_WINDOW, 0);
      const outcome = [{ transactionId: 2n, outcome: 'fraud' as const, knownAt: now + 2_000 }];
      assert.deepEqual(await redisStore.reportOutcomes(outcome), await embedded.reportOutcomes(outcome));
    } finally {
      await redisStore.close();
    }
  });

  it('should refuse a late transaction sent twice in one round trip twice, and forget its index entry, as the embedded store does', async () => {
    const redisStore = await store(1_000);
    const embedded = memory();
    try {
      const newest: TransactionEvent = { id: 1n, customerId: 1n, terminalId: 1n, amount: 10, time: START + 10 * LATENESS };
      const late: TransactionEvent = { id: 2n, customerId: 1n, terminalId: 2n, amount: 20, time: START };
      const batch = [late, { ...newest, id: 3n, time: newest.time + 1 }, late];
      for (const each of [redisStore, embedded]) await answers(each, [newest], true);
      assert.deepEqual(await answers(redisStore, batch, false), await answers(embedded, batch, false));
      const outcome = [{ transactionId: 2n, outcome: 'fraud' as const, knownAt: START + 11 * LATENESS }];
      assert.deepEqual(await redisStore.reportOutcomes(outcome), await embedded.reportOutcomes(outcome));
      assert.equal((await redisStore.reportOutcomes(outcome))[0]?.status, 'unknown_transaction');
    } finally {
      await redisStore.close();
    }
  });
});

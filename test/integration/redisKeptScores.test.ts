import assert from 'node:assert/strict';
import { historyDays, loadFeatureSpec } from '../../src/features/featureSpec.js';
import type { ModelScore, ScoredModel, ScoresNotKeptReason } from '../../src/state/modelScores.js';
import type { TransactionEvent } from '../../src/state/stateStore.js';
import { createLogger } from '../../src/observability/logger.js';
import { RedisStateStore } from '../../src/state/redisStateStore.js';
import { RedisCluster, RedisServer, startRedisStateStore } from '../helpers/redis.js';
import { waitFor } from '../helpers/waitFor.js';

/** What only the Redis store's scores have: their key's expiry, the model registry other replicas read, Redis outages. */

const spec = loadFeatureSpec();
const DAY = 86_400;
const START = spec.epochSeconds + 10 * DAY;
const BINARY: ScoredModel = { task: 'binary', name: 'fraud-binary', version: '1.2.0', revision: 'sha256:0123456789ab' };
const SCENARIO: ScoredModel = { task: 'multiclass', name: 'fraud-scenario', version: '2.0.0', revision: 'sha256:ba9876543210' };

function counter(): { counts: Map<ScoresNotKeptReason, number>; onScoresNotKept: (reason: ScoresNotKeptReason, scores: number) => void } {
  const counts = new Map<ScoresNotKeptReason, number>();
  return { counts, onScoresNotKept: (reason, scores) => counts.set(reason, (counts.get(reason) ?? 0) + scores) };
}

describe('Redis store: kept scores', () => {
  let redis: RedisServer;
  const stores: RedisStateStore[] = [];

  async function storeOn(server: RedisServer, keyPrefix: string, onScoresNotKept?: (reason: ScoresNotKeptReason, scores: number) => void): Promise<RedisStateStore> {
    const store = await startRedisStateStore(server, { timeoutMs: 2_000, keyPrefix, latenessSeconds: 3_600, historyDays: historyDays(spec), onScoresNotKept });
    stores.push(store);
    return store;
  }

  before(async () => {
    redis = await RedisServer.start();
  });
  after(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await redis.stop();
  });

  it("should expire a transaction's scores at the same millisecond as the transaction, after every write", async () => {
    const store = await storeOn(redis, 'ttl:');
    const recorded: TransactionEvent = { id: 1n, customerId: 2n, terminalId: 3n, amount: 10, time: START };
    await store.record([recorded], () => undefined, { allOrNothing: true });
    const key = store.indexKey(recorded.id);
    const expiry = async (name: string): Promise<number> => Number(await redis.admin.call('PEXPIRETIME', name));
    await store.keepScores([{ transactionId: 1n, customerId: 2n, terminalId: 3n, scores: [{ model: BINARY, fraudProbability: 0.5, alerted: true }] }]);
    const transactionExpiry = await expiry(key);
    assert.ok(transactionExpiry > Date.now(), `transaction key expires at ${transactionExpiry}`);
    assert.equal(await expiry(`${key}:s`), transactionExpiry);
    // A second revision's score rewrites the value: the expiry stays the transaction's.
    await store.keepScores([{ transactionId: 1n, customerId: 2n, terminalId: 3n, scores: [{ model: SCENARIO, fraudProbability: 0.25, alerted: false }] }]);
    assert.equal(await expiry(`${key}:s`), transactionExpiry);
    // The outcome keeps the transaction's TTL (KEEPTTL): still the same instant for both.
    await store.reportOutcomes([{ transactionId: 1n, outcome: 'fraud', knownAt: START + DAY }]);
    assert.equal(await expiry(key), transactionExpiry);
  });

  it('should join, at another replica, the scores this one kept: models named through the registry, and counted when the registry lost one', async () => {
    const scoring = await storeOn(redis, 'replicas:');
    const events: TransactionEvent[] = [1n, 2n].map((id) => ({ id, customerId: 5n, terminalId: 6n, amount: 10, time: START + Number(id) }));
    await scoring.record(events, () => undefined, { allOrNothing: true });
    const scores: ModelScore[] = [
      { model: BINARY, fraudProbability: 0.1 + 0.2, alerted: false },
      { model: SCENARIO, fraudProbability: 5e-324, alerted: true },
    ];
    await scoring.keepScores(events.map((recorded) => ({ transactionId: recorded.id, customerId: 5n, terminalId: 6n, scores })));
    // Another replica, which never scored: it reads the models from the registry.
    const other = counter();
    const reporting = await storeOn(redis, 'replicas:', other.onScoresNotKept);
    const [joined] = await reporting.reportOutcomes([{ transactionId: 1n, outcome: 'fraud', knownAt: START + DAY }]);
    assert.deepEqual(joined?.joined, { eventTime: START + 1, scores });
    // A registry emptied (an operator's DEL, a flush) names none: the scores are left out of the join, counted.
    await redis.admin.del('replicas:scored-models');
    const lost = counter();
    const third = await storeOn(redis, 'replicas:', lost.onScoresNotKept);
    const [orphan] = await third.reportOutcomes([{ transactionId: 2n, outcome: 'fraud', knownAt: START + DAY }]);
    assert.deepEqual(orphan?.joined, { eventTime: START + 2, scores: [] });
    assert.deepEqual([...lost.counts], [['unknown_model', 2]]);
    assert.deepEqual([...other.counts], []);
  });

  it('should count, and never throw, the scores a stopped Redis does not take, then keep again once it is back', async () => {
    const server = await RedisServer.start();
    try {
      const { counts, onScoresNotKept } = counter();
      const store = await storeOn(server, 'outage:', onScoresNotKept);
      const recorded: TransactionEvent = { id: 9n, customerId: 1n, terminalId: 1n, amount: 3, time: START };
      const item = { transactionId: 9n, customerId: 1n, terminalId: 1n, scores: [{ model: BINARY, fraudProbability: 0.5, alerted: true }, { model: SCENARIO, fraudProbability: 0.5, alerted: true }] };
      await server.kill();
      await store.keepScores([item]);
      await store.keepScores([item, item]);
      assert.deepEqual([...counts], [['store_unavailable', 6]]);
      await server.resume();
      await store.ready;
      await waitUntilAvailable(store);
      await store.record([recorded], () => undefined, { allOrNothing: true });
      await store.keepScores([item]);
      assert.deepEqual([...counts], [['store_unavailable', 6]]);
      const [result] = await store.reportOutcomes([{ transactionId: 9n, outcome: 'legitimate', knownAt: START + 1 }]);
      assert.equal(result?.joined?.scores.length, 2);
    } finally {
      await server.stop();
    }
  });
});

describe('Redis store in cluster mode: kept scores', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start({ cluster: true });
  });
  after(async () => {
    await redis.stop();
  });

  it("should put a transaction's scores in its own slot (the keep and outcome scripts touch one slot)", async () => {
    const store = await startRedisStateStore(redis, { timeoutMs: 2_000, keyPrefix: 'slots:', latenessSeconds: 3_600, historyDays: historyDays(spec) });
    try {
      for (const id of [0n, 1n, 12_345n, 2n ** 63n - 1n]) {
        const key = store.indexKey(id);
        assert.equal(await redis.admin.call('CLUSTER', 'KEYSLOT', `${key}:s`), await redis.admin.call('CLUSTER', 'KEYSLOT', key));
      }
    } finally {
      await store.close();
    }
  });
});

describe('Redis store on a real Redis Cluster (3 primaries): kept scores', function () {
  let cluster: RedisCluster;
  before(async () => {
    cluster = await RedisCluster.start();
  });
  after(async () => {
    await cluster.stop();
  });

  it('should keep and join the scores of transactions on every primary in one keepScores call, the registry on its own slot', async () => {
    const { counts, onScoresNotKept } = counter();
    const store = new RedisStateStore({
      url: cluster.url,
      password: undefined,
      cluster: true,
      timeoutMs: 5_000,
      keyPrefix: 'cluster:',
      latenessSeconds: 3_600,
      maxFutureSeconds: 300,
      historyDays: historyDays(spec),
      logger: createLogger('silent', { write: () => undefined }),
      onScoresNotKept,
    });
    store.start();
    await store.ready;
    try {
      const events: TransactionEvent[] = Array.from({ length: 60 }, (_, index) => ({ id: BigInt(index + 1), customerId: BigInt(index % 7), terminalId: BigInt(index % 5), amount: 1, time: START + index }));
      await store.record(events, () => undefined, { allOrNothing: true });
      const scoreOf = (id: bigint): ModelScore[] => [
        { model: BINARY, fraudProbability: Number(id) / 64, alerted: false },
        { model: SCENARIO, fraudProbability: 1 - Number(id) / 64, alerted: true },
      ];
      await store.keepScores(events.map((recorded) => ({ transactionId: recorded.id, customerId: recorded.customerId, terminalId: recorded.terminalId, scores: scoreOf(recorded.id) })));
      const primaries = new Set<number>();
      for (const recorded of events.slice(0, 20)) primaries.add((await cluster.shardOf(`${store.indexKey(recorded.id)}:s`)).primary);
      assert.equal(primaries.size, 3, `scores on ${primaries.size} primaries`);
      const results = await store.reportOutcomes(events.map((recorded) => ({ transactionId: recorded.id, outcome: 'fraud', knownAt: recorded.time + DAY })));
      assert.deepEqual(
        results.map((result) => result.joined),
        events.map((recorded) => ({ eventTime: recorded.time, scores: scoreOf(recorded.id) })),
      );
      assert.deepEqual([...counts], []);
    } finally {
      await store.close();
    }
  });
});

/** Until the store's connection says Redis answers again (its own reconnection, not a timer of this test). */
async function waitUntilAvailable(store: RedisStateStore): Promise<void> {
  await waitFor('the store to reconnect', () => store.connection.isAvailable, 10_000, 20);
}

import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { historyDays, loadFeatureSpec } from '../../src/features/featureSpec.js';
import type { ScoredCall } from '../../src/decisionLog/scoredCall.js';
import { Transaction } from '../../src/gen/fraud/v1/fraud_service.js';
import { createLogger } from '../../src/observability/logger.js';
import { ScoreKeeper } from '../../src/quality/scoreKeeper.js';
import { MemoryStateStore } from '../../src/state/memoryStateStore.js';
import type { ScoresNotKeptReason, TransactionScores } from '../../src/state/modelScores.js';
import type { RedisStateStore } from '../../src/state/redisStateStore.js';
import { RedisServer, startRedisStateStore } from '../helpers/redis.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, transaction, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const spec = loadFeatureSpec();
const silent = createLogger('silent', { write: () => undefined });

describe('score keeper over a real gRPC server: Predict, then the outcome joins the serving models’ scores (Redis store)', () => {
  let redis: RedisServer;
  let service: TestService;
  let reader: RedisStateStore;

  before(async () => {
    redis = await RedisServer.start();
    service = await startTestService({ FRAUD_STATE_STORE: 'redis', FRAUD_REDIS_URL: redis.url, FRAUD_REDIS_KEY_PREFIX: 'keeper:', FRAUD_REDIS_TIMEOUT_MS: '2000' });
    // The store as another replica sees it: the outcome is joined in this process, from what the service kept.
    reader = await startRedisStateStore(redis, { timeoutMs: 2_000, keyPrefix: 'keeper:', latenessSeconds: 86_400, historyDays: historyDays(spec) });
  });
  after(async () => {
    await reader.close();
    await service.stop();
    await redis.stop();
  });

  it("should join each task's serving revision with the exact fraud probability and decision it answered", async () => {
    const sent = transaction({ transactionId: 4242, txAmount: 480 });
    const binary = await service.client.predict(sent);
    const scenario = await service.client.predictScenario(sent);
    const key = reader.indexKey(4242n);
    // Kept off the scoring path, after the answers: wait until Redis holds both scores (17 bytes each).
    await waitFor('both scores kept', async () => (await redis.admin.strlen(`${key}:s`)) === 34);
    const [result] = await reader.reportOutcomes([{ transactionId: 4242n, outcome: 'fraud', knownAt: spec.epochSeconds + 7_200 }]);
    assert.equal(result?.status, 'applied');
    const joined = result.joined;
    assert.ok(joined !== undefined, 'an applied outcome joins the kept scores');
    assert.equal(joined.eventTime, spec.epochSeconds + 3_600);
    const byTask = new Map(joined.scores.map((score) => [score.model.task, score]));
    assert.equal(byTask.size, 2);
    for (const [task, answer] of [
      ['binary', binary],
      ['multiclass', scenario],
    ] as const) {
      const kept = byTask.get(task);
      assert.ok(kept !== undefined && answer.model !== undefined, task);
      assert.deepEqual(kept.model, { task, name: answer.model.name, version: answer.model.version, revision: answer.model.revision });
      assert.ok(Object.is(kept.fraudProbability, answer.fraudProbability), `${task}: kept ${kept.fraudProbability}, answered ${answer.fraudProbability}`);
      assert.equal(kept.alerted, answer.classId !== 0);
    }
    assert.equal(byTask.get('binary')?.alerted, true, 'an amount over 220 is answered fraud');
    // A retry of the same call by the same revisions changes nothing.
    await service.client.predict(sent);
    const text = await scrape(service.service.metricsPort);
    assert.equal(sample(text, 'fraud_quality_scores_not_kept_total'), undefined);
  });
});

/** A call of `transactions` answered by one serving binary model; answers built when read, as the scoring path's are. */
function call(ids: readonly number[], probability: (id: number) => number): ScoredCall {
  const transactions = ids.map((id) => Transaction.fromPartial({ transactionId: BigInt(id), customerId: 1n, terminalId: 2n, txAmount: 10 }));
  return {
    method: 'fraud.v1.FraudService/PredictBatch',
    transactions,
    runs: [
      {
        role: 'serving',
        task: 'binary',
        identity: { name: 'fraud-binary', version: '1.0.0', revision: 'sha256:feedfeedfeed' },
        threshold: 0.5,
        featureNames: [],
        featureRows: undefined,
        answer: (index) => {
          const fraudProbability = probability(ids[index] as number);
          const classId = fraudProbability >= 0.5 ? 1 : 0;
          return { classId, prediction: classId === 1 ? 'FRAUD' : 'LEGIT', fraudProbability, probabilities: [1 - fraudProbability, fraudProbability] };
        },
        fraudProbability: (index) => probability(ids[index] as number),
        classId: (index) => (probability(ids[index] as number) >= 0.5 ? 1 : 0),
      },
    ],
    latencySeconds: 0.001,
    decidedAtMs: Date.now(),
  };
}

describe('score keeper: batching, bound and shutdown (embedded store)', () => {
  let store: MemoryStateStore;
  let counts: Map<ScoresNotKeptReason, number>;
  /** keepScores calls, by the number of transactions each carried. */
  let writes: number[];
  let release: () => void;
  let gate: Promise<void>;

  const keeper = (maxPendingTransactions: number): ScoreKeeper =>
    new ScoreKeeper({
      store: {
        keepScores: async (items: readonly TransactionScores[]) => {
          writes.push(items.length);
          await gate;
          await store.keepScores(items);
        },
      },
      maxPendingTransactions,
      logger: silent,
      onScoresNotKept: (reason, scores) => counts.set(reason, (counts.get(reason) ?? 0) + scores),
    });

  beforeEach(async () => {
    store = new MemoryStateStore({ latenessSeconds: 3_600, historyDays: historyDays(spec), maxEntities: 1_000, maxTransactions: 1_000 });
    const events = Array.from({ length: 20 }, (_, index) => ({ id: BigInt(index + 1), customerId: 1n, terminalId: 2n, amount: 10, time: spec.epochSeconds + index }));
    await store.record(events, () => undefined, { allOrNothing: true });
    counts = new Map();
    writes = [];
    gate = new Promise((resolve) => (release = resolve));
  });

  const joined = async (id: number): Promise<number | undefined> => {
    const [result] = await store.reportOutcomes([{ transactionId: BigInt(id), outcome: 'legitimate', knownAt: spec.epochSeconds + 86_400 }]);
    return result?.joined?.scores[0]?.fraudProbability;
  };

  it('should write the calls of one turn in one keepScores call, one write at a time, and the calls that came meanwhile together next', async () => {
    const scores = keeper(100);
    scores.record(call([1, 2], (id) => id / 10));
    scores.record(call([3], (id) => id / 10));
    await nextTurn();
    assert.deepEqual(writes, [3]);
    scores.record(call([4], (id) => id / 10));
    scores.record(call([5, 6], (id) => id / 10));
    await nextTurn();
    assert.deepEqual(writes, [3], 'the first write is still in flight');
    release();
    await scores.close(10_000);
    assert.deepEqual(writes, [3, 3]);
    for (const id of [1, 2, 3, 4, 5, 6]) assert.equal(await joined(id), id / 10);
    assert.deepEqual([...counts], []);
  });

  it('should take transactions up to the bound exactly (queued and being written), and drop and count past it', async () => {
    const scores = keeper(3);
    scores.record(call([1, 2], () => 0.25));
    scores.record(call([3], () => 0.5));
    // 3 of 3: one more transaction is past the bound, whether alone or in a batch.
    scores.record(call([4], () => 0.75));
    scores.record(call([5, 6], () => 0.75));
    assert.deepEqual([...counts], [['queue_full', 3]]);
    await nextTurn();
    // Being written still counts against the bound.
    scores.record(call([7], () => 0.75));
    assert.deepEqual([...counts], [['queue_full', 4]]);
    release();
    await scores.close(10_000);
    assert.equal(scores.pendingTransactions, 0);
    assert.deepEqual(await Promise.all([1, 2, 3, 4, 7].map(joined)), [0.25, 0.25, 0.5, undefined, undefined]);
  });

  it('should count as shutdown what is still queued when the grace ends, and every call after close', async () => {
    const scores = keeper(100);
    scores.record(call([1], () => 0.5));
    await nextTurn();
    scores.record(call([2, 3], () => 0.5));
    // The first write never finishes (a store that hangs): the grace ends with two transactions queued.
    await scores.close(20);
    scores.record(call([4], () => 0.5));
    assert.deepEqual([...counts], [['shutdown', 3]]);
  });
});

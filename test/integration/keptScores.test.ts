import assert from 'node:assert/strict';
import { historyDays, loadFeatureSpec } from '../../src/features/featureSpec.js';
import { MemoryStateStore } from '../../src/state/memoryStateStore.js';
import { MAX_SCORED_MODELS_PER_TRANSACTION, type ModelScore, type ScoredModel, type ScoresNotKeptReason, type TransactionScores } from '../../src/state/modelScores.js';
import type { RedisStateStore } from '../../src/state/redisStateStore.js';
import type { OutcomeResult, StateStore, TransactionEvent } from '../../src/state/stateStore.js';
import { RedisServer, startRedisStateStore, type RedisServerOptions } from '../helpers/redis.js';

/**
 * Scores kept with remembered transactions and joined to their outcomes
 * (StateStore.keepScores, OutcomeResult.joined): the same cases against the
 * embedded store and Redis (standalone, and a node in cluster mode, which
 * refuses any script touching keys of two slots).
 */

const spec = loadFeatureSpec();
const DAY = 86_400;
const START = spec.epochSeconds + 10 * DAY;

const model = (task: ScoredModel['task'], name: string, revision: string): ScoredModel => ({ task, name, version: '1.2.0', revision });
const BINARY = model('binary', 'fraud-binary', 'sha256:0123456789ab');
const BINARY_SHADOW = model('binary', 'fraud-binary-challenger', 'c0ffee0c0ffee0c0ffee0c0ffee0c0ffee0c0ffee0c0ffee0c0ffee0c0ffee00');
const SCENARIO = model('multiclass', 'fraud-scenario', 'sha256:ba9876543210');
const SCENARIO_SHADOW = model('multiclass', 'fraud-scenario', '"etag-2"');
/** Another revision of the serving binary model (a swap between two calls of a transaction). */
const BINARY_NEXT = model('binary', 'fraud-binary', 'sha256:0123456789ac');

/** Probabilities whose every bit matters. */
const P1 = 0.1 + 0.2;
const P2 = 1 / 3;

const score = (scored: ScoredModel, fraudProbability: number, alerted = fraudProbability >= 0.5): ModelScore => ({ model: scored, fraudProbability, alerted });

interface Subject {
  readonly store: StateStore;
  /** The transaction is no longer remembered (evicted, or its keys expired). */
  forget(event: TransactionEvent): Promise<void>;
  close(): Promise<void>;
}

type SubjectFactory = (name: string, onScoresNotKept: (reason: ScoresNotKeptReason, scores: number) => void) => Promise<Subject>;

let nextId = 1n;

function event(customerId = 10n, terminalId = 20n): TransactionEvent {
  const id = nextId++;
  return { id, customerId, terminalId, amount: 42.5, time: START + Number(id) };
}

function scoresOf(recorded: TransactionEvent, scores: readonly ModelScore[], as: { customerId?: bigint; terminalId?: bigint } = {}): TransactionScores {
  return { transactionId: recorded.id, customerId: as.customerId ?? recorded.customerId, terminalId: as.terminalId ?? recorded.terminalId, scores };
}

function sharedCases(what: string, subjectOf: SubjectFactory): void {
  describe(`scores kept with transactions and joined to outcomes, ${what}`, () => {
    let subject: Subject;
    let notKept: Map<ScoresNotKeptReason, number>;

    beforeEach(async function () {
      notKept = new Map();
      subject = await subjectOf(this.currentTest?.title.replace(/\W+/g, '-').slice(0, 40) ?? 'case', (reason, scores) => {
        notKept.set(reason, (notKept.get(reason) ?? 0) + scores);
      });
    });

    afterEach(async () => {
      await subject.close();
    });

    const record = async (...events: TransactionEvent[]): Promise<void> => {
      await subject.store.record(events, () => undefined, { allOrNothing: true });
    };

    const outcome = async (recorded: TransactionEvent, kind: 'fraud' | 'legitimate' = 'fraud', supersedes = false): Promise<OutcomeResult> => {
      const [result] = await subject.store.reportOutcomes([{ transactionId: recorded.id, outcome: kind, knownAt: recorded.time + DAY, supersedes }]);
      return result as OutcomeResult;
    };

    it('should hand every score kept back with an applied outcome, exact, in the order kept, and an empty list when none was kept', async () => {
      const scored = event();
      const bare = event();
      await record(scored, bare);
      await subject.store.keepScores([scoresOf(scored, [score(BINARY, P1), score(BINARY_SHADOW, P2, true)]), scoresOf(bare, [])]);
      await subject.store.keepScores([scoresOf(scored, [score(SCENARIO, 1 - 2 ** -53, true)])]);
      const applied = await outcome(scored);
      assert.equal(applied.status, 'applied');
      assert.deepEqual(applied.joined, { eventTime: scored.time, scores: [score(BINARY, P1), score(BINARY_SHADOW, P2, true), score(SCENARIO, 1 - 2 ** -53, true)] });
      assert.deepEqual((await outcome(bare, 'legitimate')).joined, { eventTime: bare.time, scores: [] });
      assert.deepEqual([...notKept], []);
    });

    it('should hand them back with a correction too, and never with a duplicate, a conflict or an unknown transaction', async () => {
      const recorded = event();
      await record(recorded);
      await subject.store.keepScores([scoresOf(recorded, [score(BINARY, 0.75)])]);
      assert.equal((await outcome(recorded)).status, 'applied');
      const duplicate = await outcome(recorded);
      assert.equal(duplicate.status, 'duplicate');
      assert.equal(duplicate.joined, undefined);
      const conflict = await outcome(recorded, 'legitimate');
      assert.equal(conflict.status, 'conflict');
      assert.equal(conflict.joined, undefined);
      const corrected = await outcome(recorded, 'legitimate', true);
      assert.equal(corrected.status, 'corrected');
      assert.deepEqual(corrected.joined, { eventTime: recorded.time, scores: [score(BINARY, 0.75)] });
      const unknown = await outcome(event());
      assert.equal(unknown.status, 'unknown_transaction');
      assert.equal(unknown.joined, undefined);
    });

    it('should keep the first score of a model revision: a retry by the same revision changes nothing, an equal one adds nothing', async () => {
      const recorded = event();
      await record(recorded);
      await subject.store.keepScores([scoresOf(recorded, [score(BINARY, 0.25)])]);
      await subject.store.keepScores([scoresOf(recorded, [score(BINARY, 0.75, true)])]);
      // An equal score again, then others, in one call: the first still stands.
      await subject.store.keepScores([scoresOf(recorded, [score(BINARY, 0.25), score(BINARY, 0.5)]), scoresOf(recorded, [score(BINARY, 0.875, true)])]);
      assert.deepEqual((await outcome(recorded)).joined?.scores, [score(BINARY, 0.25)]);
      assert.deepEqual([...notKept], []);
    });

    it(`should keep ${MAX_SCORED_MODELS_PER_TRANSACTION} revisions per transaction, and count the next one, not kept`, async () => {
      const recorded = event();
      await record(recorded);
      const four = [score(BINARY, 0.1), score(BINARY_SHADOW, 0.2), score(SCENARIO, 0.3), score(SCENARIO_SHADOW, 0.6)];
      await subject.store.keepScores([scoresOf(recorded, four.slice(0, 3))]);
      await subject.store.keepScores([scoresOf(recorded, [four[3] as ModelScore, score(BINARY_NEXT, 0.9)])]);
      // Already kept: not a loss, not counted.
      await subject.store.keepScores([scoresOf(recorded, [score(BINARY, 0.1)])]);
      assert.deepEqual([...notKept], [['too_many_models', 1]]);
      assert.deepEqual((await outcome(recorded)).joined?.scores, four);
    });

    it('should keep nothing for a transaction never recorded, and count it', async () => {
      const never = event();
      await subject.store.keepScores([scoresOf(never, [score(BINARY, 0.5), score(SCENARIO, 0.5)])]);
      assert.deepEqual([...notKept], [['unknown_transaction', 2]]);
      // Recorded afterwards (a late keep does not wait for it): its outcome joins nothing kept before.
      await record(never);
      assert.deepEqual((await outcome(never)).joined, { eventTime: never.time, scores: [] });
    });

    it('should not attach the scores of an id reused under another customer or terminal to the first recording', async () => {
      const first = event(10n, 20n);
      const reuse = { ...first, customerId: 11n };
      const elsewhere = { ...first, terminalId: 21n };
      await record(first);
      await record(reuse);
      await record(elsewhere);
      await subject.store.keepScores([scoresOf(reuse, [score(BINARY, 0.9, true)]), scoresOf(elsewhere, [score(SCENARIO, 0.8, true)])]);
      assert.deepEqual([...notKept], [['reused_id', 2]]);
      await subject.store.keepScores([scoresOf(first, [score(BINARY, 0.1)])]);
      assert.deepEqual((await outcome(first)).joined?.scores, [score(BINARY, 0.1)]);
    });

    it('should keep nothing once the transaction is forgotten, and join nothing stale when its id is recorded again', async () => {
      const recorded = event();
      await record(recorded);
      await subject.store.keepScores([scoresOf(recorded, [score(BINARY, 0.4)])]);
      await subject.forget(recorded);
      await subject.store.keepScores([scoresOf(recorded, [score(SCENARIO, 0.4)])]);
      assert.deepEqual([...notKept], [['unknown_transaction', 1]]);
      assert.equal((await outcome(recorded)).status, 'unknown_transaction');
      await record(recorded);
      assert.deepEqual((await outcome(recorded)).joined, { eventTime: recorded.time, scores: [] });
    });
  });
}

const OPTIONS = { latenessSeconds: 3_600, historyDays: historyDays(spec), maxEntities: 100_000, maxTransactions: 100_000 };

sharedCases('embedded store', (_name, onScoresNotKept) => {
  const store = new MemoryStateStore({ ...OPTIONS, onScoresNotKept });
  return Promise.resolve({
    store,
    forget: () => {
      // As the count limit or retention does: every remembered transaction, oldest first.
      store.transactions.forget(Number.POSITIVE_INFINITY, 0);
      return Promise.resolve();
    },
    close: () => store.close(),
  });
});

function redisCases(what: string, options: RedisServerOptions): void {
  describe(`Redis ${what}`, () => {
    let redis: RedisServer;
    before(async () => {
      redis = await RedisServer.start(options);
    });
    after(async () => {
      await redis.stop();
    });

    sharedCases(`Redis store, ${what}`, async (name, onScoresNotKept) => {
      const store: RedisStateStore = await startRedisStateStore(redis, {
        timeoutMs: 5_000,
        keyPrefix: `${name}:`,
        latenessSeconds: OPTIONS.latenessSeconds,
        historyDays: OPTIONS.historyDays,
        onScoresNotKept,
      });
      return {
        store,
        forget: async (recorded) => {
          // As expiry does: the transaction and its scores go at the same millisecond.
          const key = store.indexKey(recorded.id);
          await redis.admin.call('PEXPIRE', key, '0');
          await redis.admin.call('PEXPIRE', `${key}:s`, '0');
        },
        close: () => store.close(),
      };
    });
  });
}

redisCases('standalone', {});
// In cluster mode Redis refuses a script touching keys of two slots (CROSSSLOT): every case above proves
// that keeping scores and joining them stay within the transaction's slot.
redisCases('in cluster mode (one node serving every slot)', { cluster: true });

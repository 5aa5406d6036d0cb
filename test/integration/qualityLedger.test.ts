import assert from 'node:assert/strict';
import { historyDays, loadFeatureSpec } from '../../src/features/featureSpec.js';
import type { ModelTask } from '../../src/models/modelTask.js';
import { createLogger } from '../../src/observability/logger.js';
import { MemoryQualityLedger } from '../../src/quality/memoryQualityLedger.js';
import type { QualityCounts } from '../../src/quality/qualityFigures.js';
import type { DropReason, LedgerEvents, LedgerLimits, QualityLedger, QualityUpdate, RevisionDays } from '../../src/quality/qualityLedger.js';
import { RedisQualityLedger } from '../../src/quality/redisQualityLedger.js';
import { binOf } from '../../src/quality/scoreBins.js';
import type { ModelScore, ScoredModel } from '../../src/state/modelScores.js';
import { RedisStateStore } from '../../src/state/redisStateStore.js';
import { StateUnavailableError, type OutcomeKind } from '../../src/state/stateStore.js';
import type { LogRecord } from '../helpers/testService.js';
import { RedisServer, startRedisStateStore } from '../helpers/redis.js';
import { waitFor } from '../helpers/waitFor.js';

const DAY = 86_400;
/** Day 20,000 of the Unix epoch (2024-10-04): event times are whole days plus hours. */
const D = 20_000;
const at = (day: number, hours = 12): number => day * DAY + hours * 3_600;

const model = (revision: string, task: ModelTask = 'binary', name = 'fraud-binary', version = '2.0.0'): ScoredModel => ({ task, name, version, revision });
const CHAMPION = model('sha256:champion');
const CHALLENGER = model('sha256:challenger', 'binary', 'fraud-binary', '2.1.0');
const SCENARIO = model('sha256:scenario', 'multiclass', 'fraud-scenario');

const score = (scored: ScoredModel, fraudProbability: number, alerted = fraudProbability >= 0.5): ModelScore => ({ model: scored, fraudProbability, alerted });

function applied(outcome: OutcomeKind, eventTime: number, knownAt: number, scores: ModelScore[]): QualityUpdate {
  return { outcome, knownAt, joined: { eventTime, scores } };
}
function corrected(outcome: OutcomeKind, replaced: OutcomeKind, replacedKnownAt: number, eventTime: number, knownAt: number, scores: ModelScore[]): QualityUpdate {
  return { outcome, knownAt, replaced: { outcome: replaced, knownAt: replacedKnownAt }, joined: { eventTime, scores } };
}

/** What a ledger told about drops, as the metrics would count them. */
class Recorded implements LedgerEvents {
  readonly drops = new Map<DropReason, number>();
  readonly revisions = new Map<ModelTask, number>();
  readonly dropped = (reason: DropReason, scores: number): void => {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + scores);
  };
  readonly revisionDropped = (task: ModelTask): void => {
    this.revisions.set(task, (this.revisions.get(task) ?? 0) + 1);
  };
}

interface Ledgers {
  /** A fresh ledger (for Redis, under its own key prefix). */
  create(limits: LedgerLimits, events: LedgerEvents): Promise<QualityLedger>;
}

const LIMITS: LedgerLimits = { retentionDays: 5, maxRevisionsPerTask: 4 };

function only(found: RevisionDays[], scored: ScoredModel): RevisionDays {
  const revision = found.find((each) => each.model.revision === scored.revision);
  assert.ok(revision, `${scored.revision} is read back`);
  return revision;
}

function day(found: RevisionDays[], scored: ScoredModel, eventDay: number): QualityCounts {
  const counts = only(found, scored).days.get(eventDay);
  assert.ok(counts, `${scored.revision} has day ${eventDay}`);
  return counts;
}

/** Count, bin and delay checks every store must pass alike. */
function ledgerCases(name: string, ledgers: () => Ledgers): void {
  describe(`live quality ledger: ${name}`, () => {
    const read = (ledger: QualityLedger, firstDay = D - 10, lastDay = D + 10, task?: ModelTask, revisions: string[] = []): Promise<RevisionDays[]> =>
      ledger.read({ task, revisions, firstDay, lastDay });

    it('should add an applied outcome under every revision that scored the transaction: decision count, score bin and delay', async () => {
      const ledger = await ledgers().create(LIMITS, new Recorded());
      await ledger.record([
        applied('fraud', at(D), at(D) + 3_600, [score(CHAMPION, 0.9), score(CHALLENGER, 0.3)]),
        applied('legitimate', at(D, 13), at(D, 13) + 7_200, [score(CHAMPION, 0.9), score(CHALLENGER, 0)]),
      ]);
      const found = await read(ledger);
      const champion = day(found, CHAMPION, D);
      assert.deepEqual([champion.fraudAlerted, champion.fraudPassed, champion.legitimateAlerted, champion.legitimatePassed], [1, 0, 1, 0]);
      assert.equal(champion.fraudBins[binOf(0.9)], 1);
      assert.equal(champion.legitimateBins[binOf(0.9)], 1);
      assert.equal(champion.delaySeconds, 3_600 + 7_200);
      assert.equal(champion.delayCount, 2);
      const challenger = day(found, CHALLENGER, D);
      assert.deepEqual([challenger.fraudAlerted, challenger.fraudPassed, challenger.legitimateAlerted, challenger.legitimatePassed], [0, 1, 0, 1]);
      assert.equal(challenger.legitimateBins[0], 1, 'a score of exactly 0 is in bin 0');
      assert.equal(challenger.fraudBins[binOf(0.3)], 1);
    });

    it('should move a corrected outcome from the replaced one to the new one (counts, bin and delay), so the counts hold the outcome in force', async () => {
      const ledger = await ledgers().create(LIMITS, new Recorded());
      const scores = [score(CHAMPION, 0.7)];
      await ledger.record([applied('fraud', at(D), at(D) + 100, scores), applied('fraud', at(D, 14), at(D, 14) + 50, [score(CHAMPION, 0.2)])]);
      await ledger.record([corrected('legitimate', 'fraud', at(D) + 100, at(D), at(D) + 400, scores)]);
      const counts = day(await read(ledger), CHAMPION, D);
      assert.deepEqual([counts.fraudAlerted, counts.fraudPassed, counts.legitimateAlerted, counts.legitimatePassed], [0, 1, 1, 0]);
      assert.equal(counts.fraudBins[binOf(0.7)], 0, 'the score left the fraud bin');
      assert.equal(counts.legitimateBins[binOf(0.7)], 1);
      assert.equal(counts.fraudBins[binOf(0.2)], 1);
      assert.equal(counts.delaySeconds, 400 + 50, 'the delay is the one of the outcome in force');
      assert.equal(counts.delayCount, 2);
      // And back again: a correction of the correction.
      await ledger.record([corrected('fraud', 'legitimate', at(D) + 400, at(D), at(D) + 900, scores)]);
      const again = day(await read(ledger), CHAMPION, D);
      assert.deepEqual([again.fraudAlerted, again.legitimateAlerted], [1, 0]);
      assert.equal(again.fraudBins[binOf(0.7)], 1);
      assert.equal(again.delaySeconds, 900 + 50);
    });

    it('should keep event days apart (UTC, floor of eventTime / 86400) and read [firstDay, lastDay] inclusive', async () => {
      const ledger = await ledgers().create(LIMITS, new Recorded());
      await ledger.record([
        applied('fraud', D * DAY - 1, D * DAY + 10, [score(CHAMPION, 0.9)]),
        applied('fraud', D * DAY, D * DAY + 10, [score(CHAMPION, 0.9)]),
        applied('legitimate', (D + 1) * DAY - 1, (D + 1) * DAY, [score(CHAMPION, 0.1)]),
        applied('legitimate', (D + 1) * DAY, (D + 1) * DAY, [score(CHAMPION, 0.1)]),
      ]);
      const all = only(await read(ledger), CHAMPION);
      assert.deepEqual([...all.days.keys()].sort(), [D - 1, D, D + 1]);
      assert.equal(all.days.get(D)?.fraudAlerted, 1);
      assert.equal(all.days.get(D)?.legitimatePassed, 1);
      const window = only(await read(ledger, D, D), CHAMPION);
      assert.deepEqual([...window.days.keys()], [D]);
      assert.equal(await ledger.newestDay(undefined, []), D + 1);
      assert.equal(await ledger.newestDay('multiclass', []), undefined);
      assert.equal(await ledger.newestDay(undefined, ['sha256:other']), undefined);
    });

    it('should keep the retention\'s days behind the newest day seen: an outcome of an older day is dropped and counted, older days leave as newer ones come', async () => {
      const events = new Recorded();
      const ledger = await ledgers().create(LIMITS, events);
      await ledger.record([applied('fraud', at(D), at(D), [score(CHAMPION, 0.9), score(CHALLENGER, 0.8)])]);
      // Retention 5: with D newest, D - 4 is kept and D - 5 is not.
      await ledger.record([applied('fraud', at(D - 4), at(D), [score(CHAMPION, 0.9)]), applied('fraud', at(D - 5), at(D), [score(CHAMPION, 0.9), score(CHALLENGER, 0.9)])]);
      assert.equal(events.drops.get('outside_retention'), 2);
      assert.deepEqual([...only(await read(ledger), CHAMPION).days.keys()].sort(), [D - 4, D]);
      // A newer day moves the retention: D - 4 goes.
      await ledger.record([applied('legitimate', at(D + 1), at(D + 1), [score(CHAMPION, 0.1)])]);
      assert.deepEqual([...only(await read(ledger), CHAMPION).days.keys()].sort(), [D, D + 1]);
      assert.equal(events.drops.get('outside_retention'), 2);
    });

    it('should keep a bounded number of revisions per task, dropping the least recently updated and counting it', async () => {
      const events = new Recorded();
      const ledger = await ledgers().create({ retentionDays: 5, maxRevisionsPerTask: 2 }, events);
      const first = model('r1');
      const second = model('r2');
      const third = model('r3');
      await ledger.record([applied('fraud', at(D), at(D), [score(first, 0.9), score(SCENARIO, 0.9)])]);
      await ledger.record([applied('fraud', at(D), at(D), [score(second, 0.9)])]);
      // r1 updated after r2: r2 is now the least recent.
      await ledger.record([applied('fraud', at(D), at(D), [score(first, 0.9)])]);
      await ledger.record([applied('fraud', at(D), at(D), [score(third, 0.9)])]);
      const found = await read(ledger);
      assert.deepEqual(found.map((each) => each.model.revision).sort(), ['r1', 'r3', 'sha256:scenario']);
      assert.equal(day(found, first, D).fraudAlerted, 2);
      assert.equal(events.revisions.get('binary'), 1);
      assert.equal(events.revisions.get('multiclass'), undefined, 'another task has its own bound');
    });

    it('should filter by task and revision', async () => {
      const ledger = await ledgers().create(LIMITS, new Recorded());
      await ledger.record([applied('fraud', at(D), at(D), [score(CHAMPION, 0.9), score(CHALLENGER, 0.9), score(SCENARIO, 0.9)])]);
      assert.deepEqual((await read(ledger, D, D, 'multiclass')).map((each) => each.model.revision), ['sha256:scenario']);
      assert.deepEqual((await read(ledger, D, D, undefined, ['sha256:challenger'])).map((each) => each.model.version), ['2.1.0']);
      assert.deepEqual(await read(ledger, D, D, 'multiclass', ['sha256:challenger']), []);
      assert.deepEqual(await read(ledger, D + 1, D + 2), [], 'no revision without a day in the window');
    });
  });
}

ledgerCases('in process', () => ({ create: (limits, events) => Promise.resolve(new MemoryQualityLedger(limits, events)) }));

describe('live quality ledger: Redis', function () {
  this.timeout(60_000);
  const spec = loadFeatureSpec();
  let redis: RedisServer;
  const stores: RedisStateStore[] = [];
  let prefixes = 0;
  const silent = createLogger('silent', { write: () => undefined });

  before(async () => {
    redis = await RedisServer.start();
  });
  after(async () => {
    for (const store of stores) await store.close();
    await redis.stop();
  });

  /** A ledger on the client of a real state store, as main.ts composes it: the store's prefix, TLS, Sentinel or Cluster apply. */
  // The order of last updates comes from the wall clock, in ms: two updates in one ms would tie, so the cases step it.
  let clock = Date.now();
  const now = (): number => ++clock;

  async function redisLedger(limits: LedgerLimits, events: LedgerEvents, keyPrefix: string): Promise<RedisQualityLedger> {
    const store = await startRedisStateStore(redis, { keyPrefix, timeoutMs: 1_000, latenessSeconds: 86_400, historyDays: historyDays(spec) });
    stores.push(store);
    return new RedisQualityLedger({ client: store.connection.client, keyPrefix, limits, events, logger: silent, now });
  }

  ledgerCases('Redis', () => ({ create: (limits, events) => redisLedger(limits, events, `quality${++prefixes}:`) }));

  it('should add up the outcomes two replicas record, each seeing the other\'s, under the key prefix', async () => {
    const prefix = `replicas${++prefixes}:`;
    const first = await redisLedger(LIMITS, new Recorded(), prefix);
    const second = await redisLedger(LIMITS, new Recorded(), prefix);
    await first.record([applied('fraud', at(D), at(D) + 60, [score(CHAMPION, 0.9)])]);
    assert.equal(day(await second.read({ task: undefined, revisions: [], firstDay: D, lastDay: D }), CHAMPION, D).fraudAlerted, 1);
    await Promise.all([
      first.record([applied('legitimate', at(D), at(D) + 60, [score(CHAMPION, 0.1)])]),
      second.record([applied('legitimate', at(D), at(D) + 60, [score(CHAMPION, 0.1)]), applied('fraud', at(D), at(D) + 60, [score(CHAMPION, 0.9)])]),
    ]);
    for (const ledger of [first, second]) {
      const counts = day(await ledger.read({ task: undefined, revisions: [], firstDay: D, lastDay: D }), CHAMPION, D);
      assert.deepEqual([counts.fraudAlerted, counts.legitimatePassed, counts.delayCount], [2, 2, 4]);
      assert.equal(counts.legitimateBins[binOf(0.1)], 2);
    }
    // A correction recorded by the other replica moves what the first counted.
    await second.record([corrected('legitimate', 'fraud', at(D) + 60, at(D), at(D) + 120, [score(CHAMPION, 0.9)])]);
    const moved = day(await first.read({ task: undefined, revisions: [], firstDay: D, lastDay: D }), CHAMPION, D);
    assert.deepEqual([moved.fraudAlerted, moved.legitimateAlerted], [1, 1]);
    const keys = (await redis.admin.keys('*')).filter((key) => key.includes('q1'));
    assert.ok(keys.length > 0 && keys.every((key) => key.startsWith('replicas') || key.startsWith('quality')), keys.join(', '));
    assert.ok(keys.filter((key) => key.startsWith(prefix)).length >= 4, 'day hash, days index, revisions and their updates');
    const ttl = await redis.admin.pttl(keys.find((key) => key.startsWith(prefix) && key.endsWith(`:${D}`)) ?? '');
    assert.ok(ttl > 5 * DAY * 1000 && ttl <= 6 * DAY * 1000, `a day's hash expires the retention (plus a day) after its last update, got ${ttl} ms`);
  });

  it('should count the scores it cannot write while Redis is down, log the outage once, never throw, and write again once Redis is back', async () => {
    const events = new Recorded();
    const logs: LogRecord[] = [];
    const logger = createLogger('debug', {
      write: (line: string) => {
        logs.push(JSON.parse(line) as LogRecord);
      },
    });
    const server = await RedisServer.start();
    try {
      // A round trip Redis stays silent on fails after 10 x the timeout (at least 1 s): the client drops the connection.
      const store = await startRedisStateStore(server, { keyPrefix: 'outage:', timeoutMs: 100, latenessSeconds: 86_400, historyDays: historyDays(spec) });
      stores.push(store);
      const ledger = new RedisQualityLedger({ client: store.connection.client, keyPrefix: 'outage:', limits: LIMITS, events, logger });
      await ledger.record([applied('fraud', at(D), at(D), [score(CHAMPION, 0.9)])]);
      // A frozen Redis: the write is sent and never answered.
      server.freeze();
      await ledger.record([applied('fraud', at(D), at(D), [score(CHAMPION, 0.9), score(CHALLENGER, 0.9)])]);
      assert.equal(events.drops.get('unavailable'), 2);
      // A dead one: the client knows it is not connected, and the write is not even sent.
      await server.kill();
      await waitFor('the client to notice', () => store.connection.client.status !== 'ready');
      await ledger.record([applied('legitimate', at(D), at(D), [score(CHAMPION, 0.1)])]);
      assert.equal(events.drops.get('unavailable'), 3);
      assert.equal(events.drops.get('error'), undefined);
      assert.equal(logs.filter((line) => line.msg.startsWith('live quality cannot be written')).length, 1, 'one line per outage');
      await assert.rejects(ledger.read({ task: undefined, revisions: [], firstDay: D, lastDay: D }), StateUnavailableError);
      await server.resume();
      await waitFor('the Redis client to reconnect', () => store.connection.client.status === 'ready', 15_000);
      await ledger.record([applied('legitimate', at(D), at(D), [score(CHAMPION, 0.1)])]);
      assert.equal(logs.filter((line) => line.msg === 'live quality is written to Redis again').length, 1);
      const counts = day(await ledger.read({ task: undefined, revisions: [], firstDay: D, lastDay: D }), CHAMPION, D);
      // The server came back empty (no persistence): only what was written since.
      assert.deepEqual([counts.fraudAlerted, counts.legitimatePassed], [0, 1]);
    } finally {
      await server.stop();
    }
  });
});

describe('live quality ledger: Redis Cluster (one node owning every slot, so a command across slots fails with CROSSSLOT as in a real one)', function () {
  this.timeout(60_000);
  const spec = loadFeatureSpec();
  let redis: RedisServer;
  const stores: RedisStateStore[] = [];
  let prefixes = 0;
  let clock = Date.now();

  before(async () => {
    redis = await RedisServer.start({ cluster: true, args: ['--cluster-announce-ip', '127.0.0.1'] });
  });
  after(async () => {
    for (const store of stores) await store.close();
    await redis.stop();
  });

  ledgerCases('Redis Cluster', () => ({
    create: async (limits, events) => {
      const keyPrefix = `cluster${++prefixes}:`;
      const store = new RedisStateStore({
        url: redis.url,
        password: undefined,
        cluster: true,
        timeoutMs: 1_000,
        keyPrefix,
        latenessSeconds: 86_400,
        maxFutureSeconds: 300,
        historyDays: historyDays(spec),
        logger: createLogger('silent', { write: () => undefined }),
      });
      store.start();
      await store.ready;
      stores.push(store);
      const failOnDrop: LedgerEvents = {
        dropped: (reason, scores) => {
          // A CROSSSLOT refusal would be counted as an error: here it fails the case.
          assert.equal(reason, 'outside_retention', `${scores} scores dropped: ${reason}`);
          events.dropped(reason, scores);
        },
        revisionDropped: events.revisionDropped,
      };
      return new RedisQualityLedger({ client: store.connection.client, keyPrefix, limits, events: failOnDrop, logger: createLogger('silent', { write: () => undefined }), now: () => ++clock });
    },
  }));
});

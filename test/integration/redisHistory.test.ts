import assert from 'node:assert/strict';
import { OutcomeStatus } from '../../src/gen/fraud/v1/fraud_service.js';
import { outcomeArgument, retentionArgument, terminalArgument, uncountArgument } from '../../src/state/redisCodec.js';
import { OUTCOME_RECORD, TERMINAL_RECORD, TERMINAL_UNCOUNT } from '../../src/state/redisScripts.js';
import { fixture } from '../helpers/paths.js';
import { RedisServer } from '../helpers/redis.js';
import { at, DAY, expectInvalid } from '../helpers/historyCalls.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, type TestService } from '../helpers/testService.js';

const EPOCH = Date.parse('2018-04-01T00:00:00Z') / 1000;

describe('customer and terminal history over a real socket (Redis store, a real redis-server)', () => {
  let redis: RedisServer;
  let service: TestService;

  before(async () => {
    redis = await RedisServer.start();
    // A binary model over every spec-2 feature: fraud when the terminal's 7-day risk is over 0.25 or the amount over 220.
    // The scenario model takes only the transaction's own fields.
    service = await startTestService({
      FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'),
      FRAUD_SCENARIO_MODEL_URI: fixture('scenario-zipmap-f32'),
      FRAUD_STATE_LATENESS_SECONDS: '3600',
      FRAUD_STATE_STORE: 'redis',
      FRAUD_REDIS_URL: redis.url,
      FRAUD_REDIS_KEY_PREFIX: 'api:',
    });
  });

  after(async () => {
    await service.stop();
    await redis.stop();
  });

  it('should record a transaction once: a retry, and the same transaction sent to PredictScenario, count once', async () => {
    const { client } = service;
    const first = await client.predict(at(1001, 501, 9001, 10), { explain: true });
    assert.equal(first.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 1);
    const retry = await client.predict(at(1001, 501, 9001, 10), { explain: true });
    assert.deepEqual(retry.features, first.features);
    await client.predictScenario(at(1001, 501, 9001, 10));
    await client.predictScenarioBatch([at(1001, 501, 9001, 10)]);
    const next = await client.predict(at(1002, 501, 9001, 10, 40_000, 150), { explain: true });
    assert.equal(next.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 2);
    assert.equal(next.features.CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW, 100);
    const later = await client.predict(at(1003, 502, 9001, 12), { explain: true });
    assert.equal(later.features.TERMINAL_ID_NB_TX_1DAY_WINDOW, 0, 'day 11 is empty');
    const week = await client.predict(at(1004, 503, 9001, 18), { explain: true });
    assert.equal(week.features.TERMINAL_ID_NB_TX_1DAY_WINDOW, 2, 'the terminal counted 1001 once and 1002 once (day 10)');
    const text = await scrape(service.service.metricsPort);
    assert.ok((sample(text, 'fraud_state_duplicate_transactions_total') ?? 0) >= 3, 'duplicates counted');
  });

  it('should hand each transaction of a batch the history as of right after it', async () => {
    const batch = await service.client.predictBatch([at(1103, 513, 9002, 11), at(1104, 513, 9002, 11, 37_000), at(1105, 513, 9002, 11, 38_000, 110)], { explain: true });
    assert.deepEqual(
      batch.predictions.map((prediction) => [prediction.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, prediction.features.CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW]),
      [
        [1, 50],
        [2, 50],
        [3, 70],
      ],
    );
  });

  it('should refuse a transaction older than its customer allows, naming the bound, and record nothing of it', async () => {
    const { client } = service;
    await client.predict(at(1201, 504, 9003, 20, 36_000));
    await expectInvalid(client.predict(at(1202, 504, 9003, 20, 36_000 - 3601)), 'transaction.tx_time_seconds', /older than the lateness allows.*FRAUD_STATE_LATENESS_SECONDS/);
    const within = await client.predict(at(1203, 504, 9003, 20, 36_000 - 3600), { explain: true });
    assert.equal(within.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 1, 'the later transaction does not count for an earlier one');
    const after = await client.predict(at(1204, 504, 9003, 20, 40_000), { explain: true });
    assert.equal(after.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 3, 'the refused transaction was not recorded for its customer');
    const nextWeek = await client.predict(at(1205, 505, 9003, 28), { explain: true });
    assert.equal(nextWeek.features.TERMINAL_ID_NB_TX_1DAY_WINDOW, 3, 'nor for its terminal, which had counted it in the same round trip');
    assert.equal(await redis.admin.exists('api:{x:1202}'), 0, 'nor in the transaction index');
    const text = await scrape(service.service.metricsPort);
    assert.ok((sample(text, 'fraud_state_repairs_total{reason="late"}') ?? 0) >= 1, 'the terminal count was taken back');
  });

  it('should refuse a batch with a late transaction, naming it by index, and record none of the batch', async () => {
    const { client } = service;
    await client.predict(at(1301, 506, 9004, 30));
    await expectInvalid(client.predictBatch([at(1302, 507, 9004, 30), at(1303, 506, 9004, 29)]), 'transactions[1].tx_time_seconds', /older than the lateness allows/);
    const next = await client.predict(at(1304, 507, 9004, 30, 37_000), { explain: true });
    assert.equal(next.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 1, 'the valid transaction of the refused batch was not recorded');
  });

  it('should score a late transaction with a model that reads no history, and leave it out of the history', async () => {
    const { client } = service;
    await client.predict(at(1321, 509, 9006, 30));
    const late = await client.predictScenarioBatch([at(1322, 509, 9006, 29), at(1324, 510, 9006, 29)]);
    assert.equal(late.predictions.length, 2);
    const next = await client.predict(at(1323, 509, 9006, 30, 40_000), { explain: true });
    assert.equal(next.features.CUSTOMER_ID_NB_TX_7DAY_WINDOW, 2, 'the late transaction was not recorded for its customer');
    const terminal = await client.predict(at(1325, 511, 9006, 37), { explain: true });
    assert.equal(terminal.features.TERMINAL_ID_NB_TX_7DAY_WINDOW, 1, 'nor for its terminal: day 29 holds only 1324');
  });

  it('should answer a retry whenever it comes: a duplicate is never late, and counts nowhere again', async () => {
    const { client } = service;
    const original = await client.predict(at(1311, 508, 9005, 30), { explain: true });
    await client.predict(at(1312, 508, 9005, 33));
    // Three days behind its customer: scored from the history as kept (history.rules, duplicates), where day 30
    // is folded and holds the original, which the retry's own count adds to; every other feature is the original's.
    const retry = await client.predict(at(1311, 508, 9005, 30), { explain: true });
    const counts = ['CUSTOMER_ID_NB_TX_1DAY_WINDOW', 'CUSTOMER_ID_NB_TX_7DAY_WINDOW', 'CUSTOMER_ID_NB_TX_30DAY_WINDOW'];
    assert.deepEqual(
      counts.map((name) => [original.features[name], retry.features[name]]),
      counts.map(() => [1, 2]),
    );
    assert.deepEqual({ ...retry.features, ...Object.fromEntries(counts.map((name) => [name, 1])) }, original.features);
    const later = await client.predict(at(1313, 508, 9005, 33, 37_000), { explain: true });
    assert.equal(later.features.CUSTOMER_ID_NB_TX_7DAY_WINDOW, 3, 'the retry was not recorded again for its customer');
    const terminal = await client.predict(at(1314, 509, 9005, 38), { explain: true });
    assert.equal(terminal.features.TERMINAL_ID_NB_TX_7DAY_WINDOW, 1, 'nor for its terminal (day 30 once)');
  });

  it('should apply an outcome known at exactly the transaction\'s event time (to the millisecond), and refuse one a millisecond earlier', async () => {
    const { client } = service;
    const time = Date.parse('2018-05-21T10:00:00.250Z');
    await client.predict({ transactionId: 1861, customerId: 1861, terminalId: 9861, txAmount: 10, txDatetime: new Date(time) });
    const results = await client.reportOutcomes([
      { transactionId: 1861, outcome: 'fraud', knownAt: new Date(time - 1) },
      { transactionId: 1861, outcome: 'fraud', knownAt: new Date(time) },
    ]);
    assert.deepEqual(
      results.map((result) => result.status),
      [OutcomeStatus.OUTCOME_STATUS_BEFORE_TRANSACTION, OutcomeStatus.OUTCOME_STATUS_APPLIED],
    );
    const weekLater = await client.predict(at(1862, 1862, 9861, 58), { explain: true });
    assert.deepEqual([weekLater.features.TERMINAL_ID_NB_TX_1DAY_WINDOW, weekLater.features.TERMINAL_ID_RISK_1DAY_WINDOW], [1, 1]);
  });

  it('should count a reported fraud in terminal risk from its known_at on, and answer each outcome of a batch', async () => {
    const { client } = service;
    await client.predictBatch([at(1401, 601, 9100, 40), at(1402, 602, 9100, 40, 40_000)]);
    const before = await client.predict(at(1403, 603, 9100, 48), { explain: true });
    assert.equal(before.features.TERMINAL_ID_RISK_1DAY_WINDOW, 0);
    const knownAt = new Date((EPOCH + 47 * DAY) * 1000);
    const results = await client.reportOutcomes([
      { transactionId: 1401, outcome: 'fraud', knownAt },
      { transactionId: 1401, outcome: 'fraud', knownAt },
      { transactionId: 1401, outcome: 'legitimate', knownAt },
      { transactionId: 1499, outcome: 'fraud', knownAt },
      { transactionId: 1402, outcome: 'fraud', knownAt: new Date((EPOCH + 39 * DAY) * 1000) },
    ]);
    assert.deepEqual(
      results.map((result) => result.status),
      [
        OutcomeStatus.OUTCOME_STATUS_APPLIED,
        OutcomeStatus.OUTCOME_STATUS_DUPLICATE,
        OutcomeStatus.OUTCOME_STATUS_CONFLICT,
        OutcomeStatus.OUTCOME_STATUS_UNKNOWN_TRANSACTION,
        OutcomeStatus.OUTCOME_STATUS_BEFORE_TRANSACTION,
      ],
    );
    assert.match(results[2]?.message ?? '', /already reported fraud/);
    const after = await client.predict(at(1404, 604, 9100, 48), { explain: true });
    assert.equal(after.features.TERMINAL_ID_RISK_1DAY_WINDOW, 0.5);
    assert.equal(after.prediction, 'FRAUD');
    const earlier = await client.predict(at(1405, 605, 9100, 46), { explain: true });
    assert.equal(earlier.features.TERMINAL_ID_RISK_7DAY_WINDOW, 0, 'not known yet at day 46');
  });

  it('should repair, on a retried report, a crash between the index and the terminal', async () => {
    const { client } = service;
    await client.predict(at(1501, 701, 9200, 50));
    const knownAt = EPOCH + 52 * DAY;
    // The first step of a report, as the store runs it, and then the process dies.
    // (Applied: the reply and the transaction's kept scores.)
    const [first] = (await redis.admin.callBuffer('EVAL', OUTCOME_RECORD, 2, 'api:{x:1501}', 'api:{x:1501}:s', outcomeArgument('fraud', knownAt))) as Buffer[];
    assert.equal(String.fromCharCode(first?.[0] ?? 0), 'A');
    const unrepaired = await client.predict(at(1502, 702, 9200, 58), { explain: true });
    assert.equal(unrepaired.features.TERMINAL_ID_RISK_1DAY_WINDOW, 0, 'the terminal never got the fraud');
    const retried = await client.reportOutcome({ transactionId: 1501, outcome: 'fraud', knownAt: new Date(knownAt * 1000) });
    assert.equal(retried.status, OutcomeStatus.OUTCOME_STATUS_DUPLICATE);
    const repaired = await client.predict(at(1503, 703, 9200, 58, 40_000), { explain: true });
    assert.equal(repaired.features.TERMINAL_ID_RISK_1DAY_WINDOW, 1, 'the retried report gave the terminal its fraud');
    await client.reportOutcome({ transactionId: 1501, outcome: 'fraud', knownAt: new Date(knownAt * 1000) });
    const again = await client.predict(at(1504, 704, 9200, 58, 41_000), { explain: true });
    assert.equal(again.features.TERMINAL_ID_RISK_1DAY_WINDOW, 1, 'once only');
  });

  it('should complete a correction whose terminal step was lost: the retried correction answers duplicate and ends the fraud from its known_at', async () => {
    const { client } = service;
    await client.predict(at(1701, 711, 9400, 70));
    assert.equal((await client.reportOutcome({ transactionId: 1701, outcome: 'fraud', knownAtSeconds: 71 * DAY })).status, OutcomeStatus.OUTCOME_STATUS_APPLIED);
    const correctedAt = 78 * DAY + 36_000;
    // The index step of a correction, as the store runs it, and then the process dies.
    const [first] = (await redis.admin.callBuffer('EVAL', OUTCOME_RECORD, 2, 'api:{x:1701}', 'api:{x:1701}:s', outcomeArgument('legitimate', EPOCH + correctedAt), '1')) as Buffer[];
    assert.equal(String.fromCharCode(first?.[0] ?? 0), 'K');
    const unrepaired = await client.predict(at(1702, 712, 9400, 78, 36_000), { explain: true });
    assert.equal(unrepaired.features.TERMINAL_ID_RISK_1DAY_WINDOW, 1, 'the terminal never ended the fraud');
    const retried = await client.reportOutcome({ transactionId: 1701, outcome: 'legitimate', knownAtSeconds: correctedAt, supersedes: true });
    assert.equal(retried.status, OutcomeStatus.OUTCOME_STATUS_DUPLICATE);
    const before = await client.predict(at(1703, 713, 9400, 78, 35_999), { explain: true });
    const from = await client.predict(at(1704, 714, 9400, 78, 36_001), { explain: true });
    assert.deepEqual([before.features.TERMINAL_ID_RISK_1DAY_WINDOW, from.features.TERMINAL_ID_RISK_1DAY_WINDOW], [1, 0]);
    // Past the terminal's retention the ended fraud goes with its day: the value is header and days only.
    await client.predict(at(1705, 715, 9400, 120));
    const terminal = await redis.admin.getBuffer('api:{t:9400}');
    assert.ok(terminal !== null);
    assert.deepEqual([terminal.length, terminal.readUInt32LE(12)], [16 + terminal.readUInt32LE(8) * 16, 0]);
  });

  it('should correct an outcome recorded on an index entry of the older layout (no amount, 24 bytes)', async () => {
    const { client } = service;
    await client.predict(at(1801, 811, 9500, 80));
    const entry = Buffer.alloc(24);
    entry.writeBigUInt64LE(811n, 0);
    entry.writeBigUInt64LE(9500n, 8);
    entry.writeDoubleLE(EPOCH + 80 * DAY + 36_000, 16);
    await redis.admin.set('api:{x:1801}', entry, 'KEEPTTL');
    const statuses = [];
    for (const [outcome, seconds, supersedes] of [['fraud', 81 * DAY, false], ['legitimate', 88 * DAY + 36_000, true], ['fraud', 89 * DAY, true]] as const) {
      statuses.push((await client.reportOutcome({ transactionId: 1801, outcome, knownAtSeconds: seconds, supersedes })).status);
    }
    assert.deepEqual(statuses, [OutcomeStatus.OUTCOME_STATUS_APPLIED, OutcomeStatus.OUTCOME_STATUS_CORRECTED, OutcomeStatus.OUTCOME_STATUS_CORRECTED]);
    assert.equal((await redis.admin.getBuffer('api:{x:1801}'))?.length, 24 + 3 * 9);
    const risks = [];
    // Day 80 is in the 7-day window of days 88 and 89: fraud until the correction's second, then legitimate, then fraud again.
    for (const [id, day, second] of [[1802, 88, 35_999], [1803, 88, 36_000], [1804, 89, 40_000]] as const) {
      risks.push((await client.predict(at(id, 1000 + id, 9500, day, second), { explain: true })).features.TERMINAL_ID_RISK_7DAY_WINDOW);
    }
    assert.deepEqual(risks, [1, 0, 1]);
  });

  it('should carry on when Redis has lost its scripts (SCRIPT FLUSH): NOSCRIPT is answered by sending them again', async () => {
    const { client } = service;
    await client.predict(at(1601, 801, 9300, 60));
    await redis.command('SCRIPT', 'FLUSH');
    const next = await client.predict(at(1602, 801, 9300, 60, 40_000), { explain: true });
    assert.equal(next.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 2);
    await redis.command('SCRIPT', 'FLUSH');
    const [result] = await client.reportOutcomes([{ transactionId: 1601, outcome: 'fraud', knownAtSeconds: 61 * DAY }]);
    assert.equal(result?.status, OutcomeStatus.OUTCOME_STATUS_APPLIED);
    const scripts = await redis.command('INFO', 'commandstats');
    assert.match(scripts, /cmdstat_eval:calls=[1-9]/, 'the scripts were sent again with EVAL');
  });

  it('should give every key a hash tag and the TTL of its retention', async () => {
    // The generation marker and the registry of scored model revisions (a handful of entries) have no TTL,
    // so that no volatile-* policy can evict them.
    assert.equal(await redis.admin.pttl('api:{generation}'), -1);
    assert.equal(await redis.admin.pttl('api:scored-models'), -1);
    const keys = (await redis.admin.keys('api:*')).filter((key) => key !== 'api:{generation}' && key !== 'api:scored-models').sort();
    assert.ok(keys.length > 20, `${keys.length} keys`);
    assert.ok(keys.some((key) => key.endsWith(':s')), 'scores kept with transactions');
    // Live quality: per model revision its days and their index, per task the revisions, all under the q1 layout's tags.
    const quality = keys.filter((key) => key.startsWith('api:{q1'));
    assert.ok(quality.length > 0, 'live quality of the outcomes reported');
    for (const key of quality) {
      assert.match(key, /^api:\{q1(:[0-9a-f]+\}:(\d+|days)|\}:(revisions|updated):(binary|multiclass))$/, key);
      // FRAUD_QUALITY_RETENTION_DAYS (35) plus a day, from the last update.
      const ttl = await redis.admin.pttl(key);
      assert.ok(ttl > 35 * DAY * 1000 && ttl <= 36 * DAY * 1000, `${key}: TTL ${ttl} ms`);
    }
    for (const key of keys.filter((entry) => !quality.includes(entry))) {
      // A transaction's scores (:s) share its hash tag and expire with it.
      assert.match(key, /^api:\{[ctx]:\d+\}(:ids|:s)?$/, key);
      // Retention: the longest window plus the delay, plus a day, the lateness and the future margin.
      const days = key.includes('{c:') ? 31 : 38;
      const ttl = await redis.admin.pttl(key);
      assert.ok(ttl > (days * DAY + 3600) * 1000 && ttl <= (days * DAY + 3600 + 300) * 1000, `${key}: TTL ${ttl} ms`);
    }
  });

  it("should give a terminal's id set its TTL again when repairs emptied it and the next id comes within the same minute (no pruning)", async () => {
    const terminal = 'edge:{t:1}';
    const ids = `${terminal}:ids`;
    const ttlMs = 40 * DAY * 1000;
    const retention = retentionArgument(3600, 37, ttlMs);
    // Pruning runs when the watermark minus the lateness enters a new minute: t - 3600 starts one.
    const t = EPOCH + 10 * DAY;
    const record = (id: bigint, time: number): Promise<unknown> => redis.admin.eval(TERMINAL_RECORD, 2, terminal, ids, terminalArgument(id, time, retention));
    const uncount = (id: bigint, time: number, before: number): Promise<unknown> => redis.admin.eval(TERMINAL_UNCOUNT, 2, terminal, ids, uncountArgument(id, time, before), '1');
    await record(1n, t);
    await record(2n, t + 1);
    assert.equal(await uncount(1n, t, Number.NEGATIVE_INFINITY), 1);
    assert.equal(await uncount(2n, t + 1, t), 1);
    assert.equal(await redis.admin.exists(ids), 0, 'the repairs emptied the id set');
    await record(3n, t + 2);
    const ttl = await redis.admin.pttl(ids);
    assert.ok(ttl > ttlMs - 60_000 && ttl <= ttlMs, `id set TTL ${ttl} ms`);
    assert.equal(await redis.admin.zcard(ids), 1);
  });
});

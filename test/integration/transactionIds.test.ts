import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { FraudCallError } from '../../client/fraudClient.js';
import { loadFeatureSpec } from '../../src/features/featureSpec.js';
import { fixture } from '../helpers/paths.js';
import { at, expectInvalid } from '../helpers/historyCalls.js';
import { indexValue } from '../../src/state/redisCodec.js';
import { RedisServer, startRedisStateStore } from '../helpers/redis.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, type TestService } from '../helpers/testService.js';

/** Awaits `call` and checks it failed with ALREADY_EXISTS and exactly these field violations (descriptions matched). */
async function expectAlreadyRecorded(call: Promise<unknown>, expected: readonly [string, RegExp][]): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof FraudCallError, String(error));
    assert.equal(error.code, status.ALREADY_EXISTS, error.message);
    assert.equal(error.reason, 'TRANSACTION_ALREADY_RECORDED');
    assert.deepEqual(
      error.fieldViolations.map((violation) => violation.field),
      expected.map(([field]) => field),
    );
    for (const [position, [, description]] of expected.entries()) {
      const violation = error.fieldViolations[position];
      assert.match(violation?.description ?? '', description);
    }
    return true;
  });
}

/** The same cases against each store: a repeat is a retry only when its recorded fields are the same. */
function conflictingRepeatCases(store: 'memory' | 'redis'): void {
  let redis: RedisServer | undefined;
  let service: TestService;

  before(async () => {
    const env: Record<string, string> = {
      FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'),
      FRAUD_SCENARIO_MODEL_URI: fixture('scenario-zipmap-f32'),
      FRAUD_STATE_LATENESS_SECONDS: '3600',
    };
    if (store === 'redis') {
      redis = await RedisServer.start();
      Object.assign(env, { FRAUD_STATE_STORE: 'redis', FRAUD_REDIS_URL: redis.url, FRAUD_REDIS_KEY_PREFIX: 'ids:' });
    }
    service = await startTestService(env);
  });

  after(async () => {
    await service.stop();
    await redis?.stop();
  });

  async function refusedConflicts(): Promise<number | undefined> {
    return sample(await scrape(service.service.metricsPort), 'fraud_state_refused_transactions_total{reason="conflicting_repeat"}');
  }

  it('should refuse the same id sent again with another amount (ALREADY_EXISTS naming the recorded amount), keep the recorded one and count it', async () => {
    const { client } = service;
    const before = (await refusedConflicts()) ?? 0;
    await client.predict(at(3001, 701, 9701, 10, 36_000, 10));
    await expectAlreadyRecorded(client.predict(at(3001, 701, 9701, 10, 36_000, 9000)), [['transaction.tx_amount', /transaction 3001 is already recorded .* with tx_amount 10, not 9000/]]);
    assert.equal(await refusedConflicts(), before + 1);
    const retry = await client.predict(at(3001, 701, 9701, 10, 36_000, 10), { explain: true });
    assert.equal(retry.features.CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW, 10, 'a true retry is still answered, on the recorded amount');
    const next = await client.predict(at(3002, 701, 9701, 10, 37_000, 30), { explain: true });
    assert.equal(next.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 2);
    assert.equal(next.features.CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW, 20, 'the history keeps 10, never 9000');
  });

  it('should refuse the same id sent again with another event time, naming the time field and both times', async () => {
    const { client } = service;
    await client.predict(at(3101, 702, 9702, 10, 36_000));
    await expectAlreadyRecorded(client.predict(at(3101, 702, 9702, 10, 36_001)), [['transaction.tx_time_seconds', /with event time \S+T10:00:00\.000Z, not \S+T10:00:01\.000Z/]]);
    await expectAlreadyRecorded(client.predict(at(3101, 702, 9702, 10, 36_001, 60)), [
      ['transaction.tx_amount', /with tx_amount 50, not 60/],
      ['transaction.tx_time_seconds', /with event time/],
    ]);
  });

  it('should refuse a whole batch holding a conflicting repeat, recording nothing of it', async () => {
    const { client } = service;
    await client.predict(at(3201, 703, 9703, 10, 36_000, 10));
    await expectAlreadyRecorded(client.predictBatch([at(3202, 703, 9703, 10, 36_100, 20), at(3201, 703, 9703, 10, 36_000, 11)]), [
      ['transactions[1].tx_amount', /with tx_amount 10, not 11/],
    ]);
    // The scenario model reads no history: the batch is refused all the same.
    await expectAlreadyRecorded(client.predictScenarioBatch([at(3203, 703, 9703, 10, 36_200, 20), at(3201, 703, 9703, 10, 36_000, 12)]), [
      ['transactions[1].tx_amount', /with tx_amount 10, not 12/],
    ]);
    const next = await client.predict(at(3204, 703, 9703, 10, 37_000, 40), { explain: true });
    assert.equal(next.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 2, '3202 and 3203 were not recorded');
    assert.equal(next.features.CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW, 25);
    if (redis !== undefined) assert.equal(await redis.admin.exists('ids:{x:3202}'), 0, 'nor in the transaction index');
  });

  it('should refuse a batch that repeats one of its own ids with another amount, and take one that repeats it exactly', async () => {
    const { client } = service;
    await expectAlreadyRecorded(client.predictBatch([at(3301, 704, 9704, 10, 36_000, 5), at(3301, 704, 9704, 10, 36_000, 6)]), [
      ['transactions[1].tx_amount', /transaction 3301 .* with tx_amount 5, not 6/],
    ]);
    const batch = await client.predictBatch([at(3301, 704, 9704, 10, 36_000, 5), at(3301, 704, 9704, 10, 36_000, 5)], { explain: true });
    assert.deepEqual(
      batch.predictions.map((prediction) => prediction.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW),
      [1, 1],
    );
  });

  it('should treat the same id under another card as a reuse, not a conflict', async () => {
    const { client } = service;
    await client.predict(at(3401, 705, 9705, 10, 36_000, 10));
    const reuse = await client.predict(at(3401, 706, 9705, 10, 36_500, 99), { explain: true });
    assert.equal(reuse.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 1);
  });
}

describe('transaction ids over a real socket: a repeat with other recorded fields is refused (embedded store)', () => {
  conflictingRepeatCases('memory');
});

describe('transaction ids over a real socket: a repeat with other recorded fields is refused (Redis store, a real redis-server)', () => {
  conflictingRepeatCases('redis');
});

describe('the embedded store past FRAUD_STATE_MAX_TRANSACTIONS, over a real socket', () => {
  let service: TestService;

  before(async () => {
    service = await startTestService({
      FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'),
      FRAUD_SCENARIO_MODEL_URI: fixture('scenario-zipmap-f32'),
      FRAUD_STATE_LATENESS_SECONDS: '3600',
      FRAUD_STATE_MAX_TRANSACTIONS: '2',
    });
  });

  after(async () => {
    await service.stop();
  });

  it('should count and log once the transactions forgotten within the retention, and still count once a retry its card holds', async () => {
    const { client } = service;
    for (const id of [4001, 4002, 4003, 4004]) await client.predict(at(id, 800 + id, 9800, 10, 36_000 + id));
    const text = await scrape(service.service.metricsPort);
    assert.equal(sample(text, 'fraud_state_evictions_total{kind="transaction"}'), 2);
    const warnings = service.logs.filter((record) => /the transaction index is full \(FRAUD_STATE_MAX_TRANSACTIONS\)/.test(record.msg));
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.level, 'warn');
    const retry = await client.predict(at(4001, 4801, 9800, 10, 40_001), { explain: true });
    assert.equal(retry.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 1);
    const after = await scrape(service.service.metricsPort);
    assert.equal(sample(after, 'fraud_state_forgotten_retries_total'), 1);
    const next = await client.predict(at(4005, 4805, 9800, 18), { explain: true });
    assert.equal(next.features.TERMINAL_ID_NB_TX_1DAY_WINDOW, 4, 'the terminal counted 4001 once');
  });
});

describe('Redis transaction index entries with and without the amount (a real redis-server)', () => {
  let redis: RedisServer;

  before(async () => {
    redis = await RedisServer.start();
  });

  after(async () => {
    await redis.stop();
  });

  it('should read an entry written before the amount was kept: outcomes apply once, and a repeat is refused only for its event time', async () => {
    const store = await startRedisStateStore(redis, { keyPrefix: 'old:', timeoutMs: 5_000, latenessSeconds: 3600, historyDays: { customer: 30, terminal: 37 } });
    try {
      const time = 1_700_000_000;
      // The 24-byte layout: <c8 customer, c8 terminal, d time>.
      await redis.admin.set('old:{x:77}', indexValue(5n, 6n, time, 0).subarray(0, 24));
      await redis.admin.set('old:{x:78}', indexValue(5n, 6n, time, 0).subarray(0, 24));
      const [applied, again] = await store.reportOutcomes([
        { transactionId: 77n, outcome: 'fraud', knownAt: time + 10 },
        { transactionId: 77n, outcome: 'fraud', knownAt: time + 20 },
      ]);
      assert.deepEqual([applied?.status, again?.status], ['applied', 'duplicate']);
      assert.equal((await redis.admin.getBuffer('old:{x:77}'))?.length, 33);
      // The amount is unknown: not compared; the event time still is.
      const seen: boolean[] = [];
      await store.record([{ id: 78n, customerId: 5n, terminalId: 6n, amount: 123, time }], (_index, history) => seen.push(history.duplicate), { allOrNothing: true });
      assert.equal(seen.length, 1);
      await assert.rejects(store.record([{ id: 78n, customerId: 5n, terminalId: 6n, amount: 123, time: time + 1 }], () => undefined, { allOrNothing: true }), /already recorded/);
      // New entries keep the amount, and outcomes land after it.
      await store.record([{ id: 79n, customerId: 5n, terminalId: 6n, amount: 42, time }], () => undefined, { allOrNothing: true });
      const [fresh, conflict] = await store.reportOutcomes([
        { transactionId: 79n, outcome: 'legitimate', knownAt: time + 10 },
        { transactionId: 79n, outcome: 'fraud', knownAt: time + 20 },
      ]);
      assert.deepEqual([fresh?.status, conflict?.status], ['applied', 'conflict']);
      const entry = await redis.admin.getBuffer('old:{x:79}');
      assert.ok(entry !== null);
      assert.equal(entry.length, 41);
      assert.equal(entry.readDoubleLE(24), 42);
    } finally {
      await store.close();
    }
  });
});

describe('Redis transaction index retention (a real redis-server)', () => {
  let redis: RedisServer;

  before(async () => {
    redis = await RedisServer.start();
  });

  after(async () => {
    await redis.stop();
  });

  it('should keep an index entry for the retention R plus the future margin after it was recorded (its TTL), so a retry within R is known', async () => {
    const store = await startRedisStateStore(redis, { keyPrefix: 'ttl:', timeoutMs: 5_000, latenessSeconds: 3600, historyDays: { customer: 30, terminal: 37 } });
    try {
      await store.record([{ id: 91n, customerId: 5n, terminalId: 6n, amount: 1, time: Date.now() / 1000 }], () => undefined, { allOrNothing: true });
      // R = lateness + (37 + 1) days; the helper's future margin is 300 s.
      const expectedMs = (3600 + 38 * 86_400 + 300) * 1000;
      const ttl = await redis.admin.pttl('ttl:{x:91}');
      assert.ok(ttl <= expectedMs && ttl > expectedMs - 60_000, `PTTL ${ttl}, expected about ${expectedMs}`);
    } finally {
      await store.close();
    }
  });
});

describe('known_at_seconds bounds over a real socket', () => {
  let service: TestService;
  // 9999-12-31T23:59:59Z, the largest instant a Timestamp (and tx_time_seconds) may name.
  const maxKnownAtSeconds = 253_402_300_799 - loadFeatureSpec().epochSeconds;

  before(async () => {
    service = await startTestService({ FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'), FRAUD_SCENARIO_MODEL_URI: fixture('scenario-zipmap-f32') });
  });

  after(async () => {
    await service.stop();
  });

  it('should take known_at_seconds up to 9999-12-31T23:59:59Z (then refused only as being ahead of the clock)', async () => {
    await expectInvalid(service.client.reportOutcome({ transactionId: 1, outcome: 'fraud', knownAtSeconds: maxKnownAtSeconds }), 'outcome.known_at_seconds', /is 9999-12-31T23:59:59\.000Z, more than \d+ s ahead/);
  });

  it('should refuse known_at_seconds one second past it, and far past it, as INVALID_ARGUMENT naming the bound (never INTERNAL)', async () => {
    await expectInvalid(service.client.reportOutcome({ transactionId: 1, outcome: 'fraud', knownAtSeconds: maxKnownAtSeconds + 1 }), 'outcome.known_at_seconds', new RegExp(`must be at most ${maxKnownAtSeconds} \\(9999-12-31T23:59:59Z\\), got ${maxKnownAtSeconds + 1}`));
    await expectInvalid(service.client.reportOutcomes([{ transactionId: 1, outcome: 'fraud', knownAtSeconds: 8_640_000_000_000n }]), 'outcomes[0].known_at_seconds', /must be at most/);
    await expectInvalid(service.client.reportOutcome({ transactionId: 1, outcome: 'fraud', knownAtSeconds: 2n ** 63n - 1n }), 'outcome.known_at_seconds', /must be at most/);
  });
});

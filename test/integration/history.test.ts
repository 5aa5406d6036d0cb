import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { FraudCallError } from '../../client/fraudClient.js';
import { OutcomeStatus } from '../../src/gen/fraud/v1/fraud_service.js';
import { fixture } from '../helpers/paths.js';
import { at, DAY, expectInvalid } from '../helpers/historyCalls.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

describe('customer and terminal history over a real socket (embedded store)', () => {
  let service: TestService;

  before(async () => {
    // A binary model over every spec-2 feature: fraud when the terminal's 7-day risk is over 0.25 or the amount over 220.
    // The scenario model takes only the transaction's own fields.
    service = await startTestService({
      FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'),
      FRAUD_SCENARIO_MODEL_URI: fixture('scenario-zipmap-f32'),
      FRAUD_STATE_LATENESS_SECONDS: '3600',
    });
  });

  after(async () => {
    await service.stop();
  });

  it('should record a transaction once: a retry, and the same transaction sent to PredictScenario, count once', async () => {
    const { client } = service;
    const first = await client.predict(at(1001, 501, 9001, 10), { explain: true });
    assert.equal(first.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 1);
    const retry = await client.predict(at(1001, 501, 9001, 10), { explain: true });
    assert.deepEqual(retry.features, first.features);
    await client.predictScenario(at(1001, 501, 9001, 10));
    const next = await client.predict(at(1002, 501, 9001, 10, 40_000, 150), { explain: true });
    assert.equal(next.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 2);
    assert.equal(next.features.CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW, 100);
    assert.equal(next.features.CUSTOMER_ID_AMOUNT_OVER_AVG_30DAY_WINDOW, 3);
    const text = await scrape(service.service.metricsPort);
    assert.ok((sample(text, 'fraud_state_duplicate_transactions_total') ?? 0) >= 2, 'duplicates counted');
  });

  it('should explain every feature the model saw, by name, only when asked, in unary and batch answers', async () => {
    const { client } = service;
    const plain = await client.predict(at(1101, 502, 9002, 10));
    assert.deepEqual(plain.features, {});
    const explained = await client.predict(at(1102, 502, 9002, 10, 37_000, 80), { explain: true });
    const info = await client.getModelInfo();
    assert.deepEqual(Object.keys(explained.features).sort(), [...(info.models[0]?.features ?? [])].sort());
    assert.equal(explained.features.TX_AMOUNT, 80);
    assert.equal(explained.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 2);
    const batch = await client.predictBatch([at(1103, 503, 9002, 11), at(1104, 503, 9002, 11, 37_000)], { explain: true });
    assert.deepEqual(
      batch.predictions.map((prediction) => prediction.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW),
      [1, 2],
      'each transaction of a batch sees the ones before it, not the ones after',
    );
    const unexplained = await client.predictBatch([at(1105, 503, 9002, 11, 38_000)]);
    assert.deepEqual(unexplained.predictions[0]?.features, {});
  });

  it('should refuse a transaction older than its customer allows, naming the bound, and record nothing of it', async () => {
    const { client } = service;
    await client.predict(at(1201, 504, 9003, 20, 36_000));
    await expectInvalid(client.predict(at(1202, 504, 9003, 20, 36_000 - 3601)), 'transaction.tx_time_seconds', /older than the lateness allows.*FRAUD_STATE_LATENESS_SECONDS/);
    const within = await client.predict(at(1203, 504, 9003, 20, 36_000 - 3600), { explain: true });
    assert.equal(within.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 1, 'the later transaction does not count for an earlier one');
    const after = await client.predict(at(1204, 504, 9003, 20, 40_000), { explain: true });
    assert.equal(after.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 3, 'the refused transaction was not recorded');
    const other = await client.predict(at(1205, 505, 9003, 1), { explain: true });
    assert.equal(other.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 1, "another customer's newer transactions do not make this one late");
  });

  it('should refuse a batch with a late transaction, naming it by index, and record none of the batch', async () => {
    const { client } = service;
    await client.predict(at(1301, 506, 9004, 30));
    await expectInvalid(
      client.predictBatch([at(1302, 507, 9004, 30), at(1303, 506, 9004, 29)]),
      'transactions[1].tx_time_seconds',
      /older than the lateness allows/,
    );
    const next = await client.predict(at(1304, 507, 9004, 30, 37_000), { explain: true });
    assert.equal(next.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 1, 'the valid transaction of the refused batch was not recorded');
  });

  it('should score a late transaction with a model that reads no history, and leave it out of the history', async () => {
    const { client } = service;
    await client.predict(at(1321, 509, 9004, 30));
    const before = sample(await scrape(service.service.metricsPort), 'fraud_state_refused_transactions_total{reason="late"}') ?? 0;
    const late = await client.predictScenario(at(1322, 509, 9004, 29));
    // Scored as any transaction with the same fields: the scenario model reads no history.
    const twin = await client.predictScenario(at(1326, 599, 9014, 29));
    assert.deepEqual([late.prediction, late.classId, late.probabilities], [twin.prediction, twin.classId, twin.probabilities]);
    assert.equal(late.probabilities.length, 4);
    assert.equal(sample(await scrape(service.service.metricsPort), 'fraud_state_refused_transactions_total{reason="late"}'), before + 1);
    const next = await client.predict(at(1323, 509, 9004, 30, 40_000), { explain: true });
    assert.equal(next.features.CUSTOMER_ID_NB_TX_7DAY_WINDOW, 2, 'the late transaction was not recorded');
  });

  it('should answer a retry whenever it comes: a duplicate is never late', async () => {
    const { client } = service;
    const original = await client.predict(at(1311, 508, 9004, 30), { explain: true });
    await client.predict(at(1312, 508, 9004, 33));
    // Three days behind its customer: scored from the history as kept (history.rules, duplicates), where day 30
    // is folded and holds the original, which the retry's own count adds to; every other feature is the original's.
    const retry = await client.predict(at(1311, 508, 9004, 30), { explain: true });
    const counts = ['CUSTOMER_ID_NB_TX_1DAY_WINDOW', 'CUSTOMER_ID_NB_TX_7DAY_WINDOW', 'CUSTOMER_ID_NB_TX_30DAY_WINDOW'];
    assert.deepEqual(
      counts.map((name) => [original.features[name], retry.features[name]]),
      counts.map(() => [1, 2]),
    );
    assert.deepEqual({ ...retry.features, ...Object.fromEntries(counts.map((name) => [name, 1])) }, original.features);
    const later = await client.predict(at(1313, 508, 9004, 33, 37_000), { explain: true });
    assert.equal(later.features.CUSTOMER_ID_NB_TX_7DAY_WINDOW, 3, 'the retry was not recorded again');
  });

  it('should refuse a transaction too far ahead of the clock, naming the bound', async () => {
    const future = new Date(Date.now() + 3_600_000);
    await expectInvalid(
      service.client.predict({ transactionId: 1401, customerId: 508, terminalId: 9005, txAmount: 5, txDatetime: future }),
      'transaction.tx_datetime',
      /ahead of the service's clock \(FRAUD_STATE_MAX_FUTURE_SECONDS\)/,
    );
  });

  it('should apply an outcome known at exactly the transaction\'s event time (to the millisecond), and refuse one a millisecond earlier', async () => {
    const { client } = service;
    const time = Date.parse('2018-05-21T10:00:00.250Z');
    await client.predict({ transactionId: 1851, customerId: 1851, terminalId: 9851, txAmount: 10, txDatetime: new Date(time) });
    const results = await client.reportOutcomes([
      { transactionId: 1851, outcome: 'fraud', knownAt: new Date(time - 1) },
      { transactionId: 1851, outcome: 'fraud', knownAt: new Date(time) },
    ]);
    assert.deepEqual(
      results.map((result) => result.status),
      [OutcomeStatus.OUTCOME_STATUS_BEFORE_TRANSACTION, OutcomeStatus.OUTCOME_STATUS_APPLIED],
    );
    const weekLater = await client.predict(at(1852, 1852, 9851, 58), { explain: true });
    assert.deepEqual([weekLater.features.TERMINAL_ID_NB_TX_1DAY_WINDOW, weekLater.features.TERMINAL_ID_RISK_1DAY_WINDOW], [1, 1]);
  });

  it('should count a reported fraud in terminal risk from its known_at on, and turn the answer to FRAUD', async () => {
    const { client } = service;
    // Two transactions at terminal 9100 on day 40; scored on day 48 its 1-day window is day 40.
    await client.predictBatch([at(1501, 510, 9100, 40), at(1502, 511, 9100, 40, 40_000)]);
    const before = await client.predict(at(1503, 512, 9100, 48), { explain: true });
    assert.equal(before.features.TERMINAL_ID_NB_TX_1DAY_WINDOW, 2);
    assert.equal(before.features.TERMINAL_ID_RISK_1DAY_WINDOW, 0);
    assert.equal(before.prediction, 'simple_transaction');
    const result = await client.reportOutcome({ transactionId: 1501, outcome: 'fraud', knownAtSeconds: 47 * DAY });
    assert.equal(result.status, OutcomeStatus.OUTCOME_STATUS_APPLIED);
    const after = await client.predict(at(1504, 513, 9100, 48), { explain: true });
    assert.equal(after.features.TERMINAL_ID_RISK_1DAY_WINDOW, 0.5);
    assert.equal(after.features.TERMINAL_ID_RISK_7DAY_WINDOW, 0.5);
    assert.equal(after.prediction, 'FRAUD');
    const early = await client.predict(at(1505, 514, 9100, 46), { explain: true });
    assert.equal(early.features.TERMINAL_ID_RISK_1DAY_WINDOW, 0, 'a fraud known on day 47 does not count on day 46');
  });

  it('should answer each outcome of a batch with its own status and lose none', async () => {
    const { client } = service;
    await client.predictBatch([at(1601, 520, 9200, 50), at(1602, 521, 9200, 50)]);
    await client.reportOutcome({ transactionId: 1602, outcome: 'legitimate', knownAtSeconds: 51 * DAY });
    const results = await client.reportOutcomes([
      { transactionId: 1601, outcome: 'fraud', knownAtSeconds: 52 * DAY },
      { transactionId: 1601, outcome: 'fraud', knownAtSeconds: 53 * DAY },
      { transactionId: 1602, outcome: 'fraud', knownAtSeconds: 52 * DAY },
      { transactionId: 987_654_321, outcome: 'fraud', knownAtSeconds: 52 * DAY },
      { transactionId: 1601, outcome: 'legitimate', knownAtSeconds: 49 * DAY },
    ]);
    assert.deepEqual(
      results.map((result) => [String(result.transactionId), OutcomeStatus[result.status]]),
      [
        ['1601', 'OUTCOME_STATUS_APPLIED'],
        ['1601', 'OUTCOME_STATUS_DUPLICATE'],
        ['1602', 'OUTCOME_STATUS_CONFLICT'],
        ['987654321', 'OUTCOME_STATUS_UNKNOWN_TRANSACTION'],
        ['1601', 'OUTCOME_STATUS_BEFORE_TRANSACTION'],
      ],
    );
    assert.match(results[2]?.message ?? '', /already reported legitimate/);
    const text = await scrape(service.service.metricsPort);
    assert.ok((sample(text, 'fraud_state_outcomes_total{status="conflict"}') ?? 0) >= 1);
    assert.ok((sample(text, 'fraud_state_outcomes_total{status="unknown_transaction"}') ?? 0) >= 1);
  });

  it('should refuse malformed outcomes with field violations and record none of the batch', async () => {
    const { client } = service;
    await client.predict(at(1701, 530, 9300, 60));
    await expectInvalid(
      client.reportOutcomes([
        { transactionId: 1701, outcome: 'fraud', knownAtSeconds: 61 * DAY },
        { transactionId: -1, outcome: 'fraud', knownAtSeconds: 61 * DAY },
      ]),
      'outcomes[1].transaction_id',
      /must be >= 0/,
    );
    const result = await client.reportOutcome({ transactionId: 1701, outcome: 'fraud', knownAtSeconds: 61 * DAY });
    assert.equal(result.status, OutcomeStatus.OUTCOME_STATUS_APPLIED, 'the valid outcome of the refused batch was not recorded');
    await expectInvalid(client.reportOutcomes([]), 'outcomes', /at least one outcome/);
    await expectInvalid(
      client.reportOutcome({ transactionId: 1701, outcome: 'fraud', knownAt: new Date(Date.now() + 86_400_000) }),
      'outcome.known_at',
      /ahead of the service's clock/,
    );
  });

  it('should export the size of the history', async () => {
    const text = await waitFor('state gauges', async () => {
      const scraped = await scrape(service.service.metricsPort);
      return (sample(scraped, 'fraud_state_entities{kind="customer"}') ?? 0) > 0 ? scraped : undefined;
    });
    assert.ok((sample(text, 'fraud_state_entities{kind="terminal"}') ?? 0) > 0);
    assert.ok((sample(text, 'fraud_state_transactions') ?? 0) > 0);
    assert.ok((sample(text, 'fraud_state_bytes{kind="customer"}') ?? 0) > 0);
    assert.ok((sample(text, 'fraud_state_bytes{kind="transaction"}') ?? 0) > 0);
  });
});

describe('a service that keeps no history (FRAUD_STATE_STORE=none)', () => {
  it('should refuse a model that needs history, saying why, and outcomes with FAILED_PRECONDITION', async () => {
    const service = await startTestService(
      { FRAUD_STATE_STORE: 'none', FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'), FRAUD_SCENARIO_MODEL_URI: fixture('scenario-zipmap-f32') },
      false,
    );
    try {
      const info = await waitFor('the refusal', async () => {
        const { models } = await service.client.getModelInfo();
        return models[0]?.lastError === '' ? undefined : models[0];
      });
      assert.equal(info.serving, false);
      assert.match(info.lastError, /needs customer and terminal history, which this service \(FRAUD_STATE_STORE=none\) does not keep/);
      await assert.rejects(service.client.reportOutcome({ transactionId: 1, outcome: 'fraud' }), (error: unknown) => {
        assert.ok(error instanceof FraudCallError);
        assert.equal(error.code, status.FAILED_PRECONDITION);
        assert.match(error.details, /FRAUD_STATE_STORE=none/);
        return true;
      });
      // Stateless scoring still works and records nothing.
      const answer = await service.client.predictScenario(at(1, 1, 1, 1));
      assert.ok(answer.prediction.length > 0);
    } finally {
      await service.stop();
    }
  });
});

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TransactionInput } from '../../client/fraudClient.js';
import { DecisionRole } from '../../src/gen/fraud/v1/decision_record.js';
import { decisionRecordsIn } from '../helpers/decisionFiles.js';
import { largeSessionModel } from '../helpers/largeSessionModel.js';
import { OtlpReceiver } from '../helpers/otlpReceiver.js';
import { fixture } from '../helpers/paths.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, transaction, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

let nextId = 8_200_000;

/** Transactions with ids of their own. */
function transactions(count: number): TransactionInput[] {
  return Array.from({ length: count }, () => transaction({ transactionId: nextId++ }));
}

describe('shadow models: shed first, refused without touching serving, run after the answer', function () {
  this.timeout(60_000);
  const services: TestService[] = [];
  const dirs: string[] = [];

  afterEach(async () => {
    await Promise.all(services.splice(0).map((service) => service.stop()));
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });

  async function start(env: Record<string, string>): Promise<TestService & { dir: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'fraud-shadow-'));
    dirs.push(dir);
    // The loop's load sheds nothing here (FRAUD_SHADOW_SHED_LOOP_BUSY=1) unless a test says otherwise: it shares the loop with its client.
    const service = await startTestService({ FRAUD_SHADOW_SHED_LOOP_BUSY: '1', FRAUD_DECISION_LOG_DIR: dir, FRAUD_DECISION_LOG_BATCH_RECORDS: '10', ...env });
    services.push(service);
    return Object.assign(service, { dir });
  }

  const metric = async (service: TestService, series: string): Promise<number> => sample(await scrape(service.service.metricsPort), series) ?? 0;

  async function written(service: TestService, count: number): Promise<void> {
    await waitFor(`${count} records written`, async () => (await metric(service, 'fraud_decision_log_records_total{sink="file"}')) === count);
  }

  /** The number of model runs in the record of each transaction id. */
  async function runsById(dir: string): Promise<Map<string, number>> {
    const records = await decisionRecordsIn(dir);
    for (const record of records) assert.equal(record.models[0]?.role, DecisionRole.DECISION_ROLE_SERVING);
    return new Map(records.map((record) => [String(record.transactionId), record.models.length]));
  }

  async function shadowLoaded(service: TestService): Promise<void> {
    await waitFor('the binary shadow loaded', async () => (await service.client.getModelInfo()).shadows.some((shadow) => shadow.serving));
  }

  it('should shadow a call of exactly FRAUD_SHADOW_MAX_ROWS_IN_FLIGHT rows, shed one of one more (counted), and still record the serving run', async () => {
    const service = await start({
      FRAUD_BINARY_MODEL_URI: fixture('binary-zipmap-f32'),
      FRAUD_BINARY_SHADOW_MODEL_URI: fixture('binary-zipmap-f32-v2'),
      FRAUD_SHADOW_MAX_ROWS_IN_FLIGHT: '5',
    });
    await shadowLoaded(service);
    const fits = transactions(5);
    await service.client.predictBatch(fits);
    await written(service, 5);
    const over = transactions(6);
    await service.client.predictBatch(over);
    await written(service, 11);
    const runs = await runsById(service.dir);
    for (const sent of fits) assert.equal(runs.get(String(sent.transactionId)), 2);
    for (const sent of over) assert.equal(runs.get(String(sent.transactionId)), 1);
    assert.equal(await metric(service, 'fraud_shadow_rows_shed_total{task="binary",reason="max_rows"}'), 6);
    const shedLines = (): number => service.logs.filter((record) => record.msg.startsWith('shadow rows shed')).length;
    assert.equal(shedLines(), 1);

    // A burst of unary calls: they reach the shadow's bound before any shadow has run (shadows run after the answers).
    const burst = transactions(64);
    await Promise.all(burst.map((sent) => service.client.predict(sent)));
    await written(service, 11 + burst.length);
    const after = await runsById(service.dir);
    const shadowed = burst.filter((sent) => after.get(String(sent.transactionId)) === 2).length;
    const shed = burst.filter((sent) => after.get(String(sent.transactionId)) === 1).length;
    assert.equal(shadowed + shed, burst.length, 'every call is recorded, with or without its shadow');
    assert.ok(shed > 0, 'the burst sheds');
    assert.equal(await metric(service, 'fraud_shadow_rows_shed_total{task="binary",reason="max_rows"}'), 6 + shed);
    assert.equal(await metric(service, 'fraud_shadow_rows_in_flight'), 0);
    // Logged once per episode of shedding: one line for the batch, one for the burst (shadowed calls in between end an episode).
    assert.ok(shedLines() >= 2 && shedLines() <= shed + 1, String(shedLines()));
  });

  it('should shed every call with FRAUD_SHADOW_SHED_LOOP_BUSY=0 (any load of the event loop), counted as saturated, the serving run recorded', async () => {
    const service = await start({
      FRAUD_BINARY_MODEL_URI: fixture('binary-zipmap-f32'),
      FRAUD_BINARY_SHADOW_MODEL_URI: fixture('binary-zipmap-f32-v2'),
      FRAUD_SHADOW_SHED_LOOP_BUSY: '0',
    });
    await shadowLoaded(service);
    const sent = transactions(4);
    await service.client.predictBatch(sent.slice(0, 3));
    await service.client.predict(sent[3] as TransactionInput);
    await written(service, 4);
    assert.deepEqual([...(await runsById(service.dir)).values()], [1, 1, 1, 1]);
    assert.equal(await metric(service, 'fraud_shadow_rows_shed_total{task="binary",reason="saturated"}'), 4);
  });

  it('should record the serving run alone, counted as late, when a call has a transaction too late for the history a challenger reads', async () => {
    const service = await start({
      FRAUD_BINARY_MODEL_URI: fixture('binary-zipmap-f32'),
      FRAUD_BINARY_SHADOW_MODEL_URI: fixture('binary-history-f32'),
      FRAUD_STATE_LATENESS_SECONDS: '3600',
    });
    await shadowLoaded(service);
    const card = { customerId: 8_300_001, terminalId: 8_300_002, txAmount: 30 };
    await service.client.predict({ ...card, transactionId: 8_300_010, txTimeSeconds: 100_000 });
    await written(service, 1);
    // One second past the lateness: the serving model (no history features) scores it; the challenger would read no history.
    const late = { ...card, transactionId: 8_300_011, txTimeSeconds: 100_000 - 3601 };
    const onTime = { ...card, transactionId: 8_300_012, txTimeSeconds: 100_000 + 60 };
    const answer = await service.client.predictBatch([late, onTime]);
    assert.equal(answer.predictions.length, 2);
    // Exactly at the lateness bound: recorded, so the challenger scores it.
    const atBound = { ...card, transactionId: 8_300_013, txTimeSeconds: 100_000 + 60 - 3600 };
    await service.client.predict(atBound);
    await written(service, 4);
    const runs = await runsById(service.dir);
    assert.deepEqual([8_300_010, 8_300_011, 8_300_012, 8_300_013].map((id) => runs.get(String(id))), [2, 1, 1, 2]);
    assert.equal(await metric(service, 'fraud_shadow_rows_shed_total{task="binary",reason="late"}'), 2);
  });

  it('should refuse a shadow of another task, one with other classes, and a missing one, with the reason in GetModelInfo.shadows, and serve regardless', async () => {
    for (const [binaryShadow, reason, says] of [
      [fixture('scenario-zipmap-f32'), 'task', /multiclass model; the binary task needs a binary model/],
      [fixture('binary-strings-zipmap-f32'), 'classes', /classes by id \[legit, fraud\] are not the serving binary model's \[simple_transaction, FRAUD\]/],
    ] as const) {
      const service = await start({
        FRAUD_BINARY_MODEL_URI: fixture('binary-zipmap-f32'),
        FRAUD_BINARY_SHADOW_MODEL_URI: binaryShadow,
        FRAUD_SCENARIO_SHADOW_MODEL_URI: join(tmpdir(), 'no-such-shadow', 'fraud-scenario.json'),
      });
      const info = await waitFor('both shadows refused', async () => {
        const answer = await service.client.getModelInfo();
        return answer.shadows.every((shadow) => shadow.lastError !== '') && answer;
      });
      assert.equal(info.shadows.length, 2);
      const [binary, scenario] = info.shadows;
      assert.equal(binary?.serving, false);
      assert.match(binary.lastError, says);
      assert.equal(scenario?.serving, false);
      assert.match(scenario.lastError, /no-such-shadow/);
      assert.equal(await metric(service, `fraud_shadow_model_load_failures_total{task="binary",reason="${reason}"}`), 1);
      assert.equal(await metric(service, 'fraud_shadow_model_loaded{task="binary"}'), 0);
      assert.equal(await metric(service, 'fraud_shadow_model_loaded{task="multiclass"}'), 0);
      // Serving is untouched: ready, and answering with the serving run alone.
      assert.equal(await service.client.checkHealth(), 'SERVING');
      assert.equal(await service.client.checkHealth('fraud.v1.FraudService'), 'SERVING');
      assert.deepEqual(info.models.map((model) => model.serving), [true, true]);
      const sent = transactions(2);
      await service.client.predictBatch(sent);
      await service.client.predictScenario(transactions(1)[0] as TransactionInput);
      await written(service, 3);
      assert.deepEqual([...(await runsById(service.dir)).values()], [1, 1, 1]);
    }
  });

  it('should record the serving run alone, counted as failed and logged once, when the challenger fails on real traffic, and both runs once it runs again', async () => {
    // It passes the loader's sample check (4 rows) and fails in onnxruntime on any other number of rows.
    const challenger = largeSessionModel('fragile', 1_024, 0.618034, { onlyRunsOfItsSamples: true });
    const modelDir = await mkdtemp(join(tmpdir(), 'fraud-fragile-model-'));
    dirs.push(modelDir);
    await writeFile(join(modelDir, 'fraud-binary.onnx'), challenger.model);
    await writeFile(join(modelDir, 'fraud-binary.json'), JSON.stringify(challenger.manifest));
    const service = await start({ FRAUD_BINARY_MODEL_URI: fixture('binary-zipmap-f32'), FRAUD_BINARY_SHADOW_MODEL_URI: join(modelDir, 'fraud-binary.json') });
    await shadowLoaded(service);
    // Three rows a call: one run of the challenger, or several coalesced into one, never holds four.
    for (let call = 0; call < 2; call++) assert.equal((await service.client.predictBatch(transactions(3))).predictions.length, 3);
    await written(service, 6);
    assert.deepEqual([...(await runsById(service.dir)).values()], [1, 1, 1, 1, 1, 1]);
    assert.equal(await metric(service, 'fraud_shadow_rows_shed_total{task="binary",reason="failed"}'), 6);
    const failures = service.logs.filter((record) => record.msg.startsWith('shadow model run failed'));
    assert.equal(failures.length, 1, 'logged once while it keeps failing');
    assert.match(String(failures[0]?.error), /reshape/i);

    const fits = transactions(4);
    await service.client.predictBatch(fits);
    await written(service, 10);
    const runs = await runsById(service.dir);
    for (const sent of fits) assert.equal(runs.get(String(sent.transactionId)), 2);
    assert.equal(service.logs.filter((record) => record.msg === 'shadow model runs succeed again').length, 1);
    assert.equal(await metric(service, 'fraud_shadow_rows_shed_total{task="binary",reason="failed"}'), 6);
    assert.equal(await metric(service, 'fraud_shadow_rows_in_flight'), 0);
  });

  it("should run the shadow only after the call has answered: its span starts after the call span's answer-sent event", async () => {
    const receiver = await OtlpReceiver.start();
    try {
      const service = await start({
        FRAUD_BINARY_MODEL_URI: fixture('binary-zipmap-f32'),
        FRAUD_BINARY_SHADOW_MODEL_URI: fixture('binary-zipmap-f32-v2'),
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_BSP_SCHEDULE_DELAY: '10',
      });
      await shadowLoaded(service);
      const calls = 6;
      for (const sent of transactions(calls / 2)) await service.client.predict(sent);
      for (let call = 0; call < calls / 2; call++) await service.client.predictBatch(transactions(3));
      const shadowSpans = await waitFor('a shadow span per call', () => {
        const found = receiver.spans.filter((span) => span.name === 'fraud.shadow.run');
        return found.length === calls && found;
      });
      for (const shadow of shadowSpans) {
        const call = receiver.spans.find((span) => span.spanId === shadow.parentSpanId);
        assert.ok(call !== undefined, 'the shadow span is a child of the call span');
        assert.equal(call.kind, 2);
        // The answer was handed to grpc-js (the message event), and only then did the shadow start.
        const sent = call.events.find((event) => event.name === 'message' && event.attributes['message.type'] === 'SENT');
        assert.ok(sent !== undefined, 'the call span says when its answer was sent');
        assert.ok(shadow.startNs >= sent.timeNs, `the shadow run started ${String(sent.timeNs - shadow.startNs)} ns before the answer was sent (${call.name}, ${String(shadow.attributes["fraud.rows"])} rows)`);
        assert.equal(shadow.attributes['fraud.model.version'], '2.0.0');
      }
    } finally {
      await receiver.close();
    }
  });
});

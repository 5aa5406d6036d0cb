import assert from 'node:assert/strict';
import { RawStub } from '../helpers/rawStub.js';
import { sample } from '../helpers/scrape.js';
import { startTestService, transaction, type TestService } from '../helpers/testService.js';

describe('Prometheus metrics', () => {
  let running: TestService;
  let text: string;
  /** What the clients were told, by task and class: the counters must say the same. */
  const told = { binary: new Map<string, number>(), multiclass: new Map<string, number>() };
  const tell = (task: keyof typeof told, prediction: string): void => {
    told[task].set(prediction, (told[task].get(prediction) ?? 0) + 1);
  };

  before(async () => {
    running = await startTestService();
    for (let index = 0; index < 5; index++) tell('binary', (await running.client.predict(transaction({ txAmount: 300 }))).prediction);
    tell('binary', (await running.client.predict(transaction({ txAmount: 10, txTimeSeconds: 129600, txTimeDays: 1 }))).prediction);
    tell('multiclass', (await running.client.predictScenario(transaction({ txAmount: 250 }))).prediction);
    for (const answer of (await running.client.predictBatch([transaction(), transaction(), transaction()])).predictions) tell('binary', answer.prediction);
    const raw = new RawStub(running.address);
    await raw.predictFailure({ transactionId: 1n });
    raw.close();
    const response = await fetch(`http://127.0.0.1:${running.service.metricsPort}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    text = await response.text();
  });

  after(async () => {
    await running.stop();
  });

  it('should count calls by method and status code', () => {
    assert.equal(sample(text, 'fraud_grpc_requests_total{method="fraud.v1.FraudService/Predict",code="OK"}'), 6);
    assert.equal(sample(text, 'fraud_grpc_requests_total{method="fraud.v1.FraudService/Predict",code="INVALID_ARGUMENT"}'), 1);
    assert.equal(sample(text, 'fraud_grpc_requests_total{method="fraud.v1.FraudService/PredictScenario",code="OK"}'), 1);
    assert.equal(sample(text, 'fraud_grpc_requests_total{method="fraud.v1.FraudService/PredictBatch",code="OK"}'), 1);
  });

  it('should time calls with sorted buckets fit for sub-millisecond answers', () => {
    const bounds = text
      .split('\n')
      .filter((line) => line.startsWith('fraud_grpc_request_duration_seconds_bucket{') && line.includes('method="fraud.v1.FraudService/Predict"'))
      .map((line) => /le="([^"]+)"/.exec(line)?.[1] ?? '')
      .map((bound) => (bound === '+Inf' ? Number.POSITIVE_INFINITY : Number(bound)));
    assert.ok(bounds.length > 10);
    assert.deepEqual(bounds, [...bounds].sort((a, b) => a - b));
    assert.ok(bounds.filter((bound) => bound < 0.001).length >= 4, `buckets below 1 ms: ${bounds.join(', ')}`);
    assert.equal(sample(text, 'fraud_grpc_request_duration_seconds_count{method="fraud.v1.FraudService/Predict"}'), 7);
  });

  it('should count predictions by task, model, model version and class', () => {
    // Both binary classes and one scenario class were answered (nine binary answers, one scenario answer).
    assert.deepEqual([...told.binary.keys()].sort(), ['FRAUD', 'simple_transaction']);
    assert.equal(told.multiclass.size, 1);
    for (const [task, model, classes] of [
      ['binary', 'fraud-binary', ['FRAUD', 'simple_transaction']],
      ['multiclass', 'fraud-scenario', ['simple_transaction', 'scenario_1', 'scenario_2', 'scenario_3']],
    ] as const) {
      const version = running.service.registry.current(task)?.identity.version ?? '';
      for (const label of classes) {
        const count = sample(text, `fraud_predictions_total{task="${task}",model="${model}",version="${version}",class="${label}"}`) ?? 0;
        assert.equal(count, told[task].get(label) ?? 0, `${task} ${label}`);
      }
    }
  });

  it('should describe model loads and the serving versions', () => {
    assert.equal(sample(text, 'fraud_model_loads_total{task="binary"}'), 1);
    assert.equal(sample(text, 'fraud_model_loads_total{task="multiclass"}'), 1);
    assert.equal(sample(text, 'fraud_model_serving{task="binary"}'), 1);
    const info = text.split('\n').filter((line) => line.startsWith('fraud_model_info{'));
    assert.equal(info.length, 2, info.join('\n'));
    assert.match(info.join('\n'), /task="binary",name="fraud-binary",version="[^"]+",revision="sha256:[0-9a-f]{12}",source="file:\/\/[^"]+fraud-binary\.json"\} 1/);
    assert.ok((sample(text, 'fraud_model_loaded_timestamp_seconds{task="binary"}') ?? 0) > 1.7e9);
    assert.match(text, /^# HELP fraud_model_load_failures_total /m);
    assert.equal(sample(text, 'fraud_model_inference_duration_seconds_count{task="binary"}'), 7);
    assert.equal(sample(text, 'fraud_model_inference_duration_seconds_count{task="multiclass"}'), 1);
  });

  it('should export the default process metrics', () => {
    assert.ok(sample(text, 'process_cpu_user_seconds_total') !== undefined);
    assert.ok(sample(text, 'process_resident_memory_bytes') !== undefined);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
  });

  it('should answer 404 anywhere but /metrics', async () => {
    const response = await fetch(`http://127.0.0.1:${running.service.metricsPort}/`);
    assert.equal(response.status, 404);
    await response.text();
  });
});

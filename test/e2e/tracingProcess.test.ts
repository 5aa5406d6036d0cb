import assert from 'node:assert/strict';
import { FraudClient } from '../../client/fraudClient.js';
import { OtlpReceiver } from '../helpers/otlpReceiver.js';
import { runMain, spawnService } from '../helpers/spawnService.js';
import { transaction } from '../helpers/testService.js';

describe('tracing in the service process', function () {
  this.timeout(30_000);

  it('should export the spans of its last calls on SIGTERM, before it exits', async () => {
    const receiver = await OtlpReceiver.start();
    const service = await spawnService({
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
      // Nothing leaves on the timer: only the shutdown flush can send these spans.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    });
    const client = new FraudClient({ address: service.address, deadlineMs: 10_000, retry: { attempts: 1 } });
    try {
      await service.waitForLog('serving');
      await client.predict(transaction());
      await client.predictScenario(transaction());
    } finally {
      client.close();
      assert.equal(await service.kill('SIGTERM'), 0);
      await receiver.close();
    }
    assert.deepEqual(
      receiver.spans.filter((span) => span.kind === 2).map((span) => span.name).sort(),
      ['fraud.v1.FraudService/Predict', 'fraud.v1.FraudService/PredictScenario'],
    );
    assert.equal(receiver.spans.length, 8);
    assert.equal(receiver.spans[0]?.resource['service.name'], 'fraud-scoring');
  });

  it('should write each span as one JSON log line with OTEL_TRACES_EXPORTER=console', async () => {
    const service = await spawnService({ OTEL_TRACES_EXPORTER: 'console', OTEL_BSP_SCHEDULE_DELAY: '10' });
    const client = new FraudClient({ address: service.address, deadlineMs: 10_000, retry: { attempts: 1 } });
    try {
      await service.waitForLog('serving');
      await client.predict(transaction());
      const line = await service.waitForLog('span fraud.v1.FraudService/Predict');
      assert.equal(line.component, 'tracing');
      assert.match(String(line.trace_id), /^[0-9a-f]{32}$/);
    } finally {
      client.close();
      await service.kill('SIGTERM');
    }
    // Every line the process printed parsed as JSON (spawnService parses each one).
    assert.deepEqual(service.stderr, []);
  });

  it('should warn at start that an OTLP endpoint alone leaves tracing off', async () => {
    const service = await spawnService({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' });
    try {
      const warning = await service.waitForLog(
        'OTEL_EXPORTER_OTLP_ENDPOINT is set but OTEL_TRACES_EXPORTER is not: tracing is off (set OTEL_TRACES_EXPORTER=otlp to export spans)',
      );
      assert.equal(warning.level, 'warn');
      assert.equal(service.logs.find((record) => record.msg === 'tracing on'), undefined);
    } finally {
      await service.kill('SIGTERM');
    }
  });

  it('should exit 2 with one line naming the variable for a bad OTEL_* value', async () => {
    const result = await runMain({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'ratio' });
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr,
      'configuration error: OTEL_TRACES_SAMPLER: must be one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio, got "ratio"\n',
    );
  });
});

import assert from 'node:assert/strict';
import { Client, credentials, Metadata, Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { FraudServiceClient, Outcome, Transaction, type PredictResponse } from '../../src/gen/fraud/v1/fraud_service.js';
import { OtlpReceiver, type ReceivedSpan } from '../helpers/otlpReceiver.js';
import { freePort } from '../helpers/spawnService.js';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/config.js';
import { startService } from '../../src/main.js';
import { createLogger } from '../../src/observability/logger.js';
import { bundled } from '../helpers/paths.js';
import { startTestService, type LogRecord, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

/** The caller's trace context, as its own tracer (or Envoy, from HTTP headers) sends it. */
const CALLER_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01`;
const TRACESTATE = 'acquirer=7f3a,vendor=x1';

const PREDICT = 'fraud.v1.FraudService/Predict';

let nextId = 7_100_000;

/** A transaction with ids of its own, so its card and terminal start with no history. */
function transaction(): Transaction {
  const id = BigInt(nextId++);
  return Transaction.fromPartial({ transactionId: id, customerId: id, terminalId: id + 1n, txAmount: 42.5, txTimeSeconds: 3600n, features: {} });
}

function traced(traceparent = TRACEPARENT, tracestate = TRACESTATE): Metadata {
  const metadata = new Metadata();
  metadata.set('traceparent', traceparent);
  metadata.set('tracestate', tracestate);
  return metadata;
}

function predict(stub: FraudServiceClient, request: Transaction, metadata = new Metadata()): Promise<PredictResponse> {
  return new Promise((resolveCall, rejectCall) => {
    stub.predict({ transaction: request, explain: false }, metadata, { deadline: Date.now() + 10_000 }, (error: ServiceError | null, response?: PredictResponse) => {
      if (error === null && response !== undefined) resolveCall(response);
      else rejectCall(error ?? new Error('no answer'));
    });
  });
}

function failure(call: Promise<unknown>): Promise<ServiceError> {
  return call.then(
    () => {
      throw new Error('the call succeeded');
    },
    (error: unknown) => error as ServiceError,
  );
}

/** The service with tracing to `receiver` over OTLP/HTTP JSON; spans leave every 10 ms. */
function tracedService(receiver: OtlpReceiver, env: Record<string, string> = {}): Promise<TestService> {
  return startTestService({
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_SERVICE_NAME: 'fraud-scoring-test',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,team=risk%20ops',
    OTEL_BSP_SCHEDULE_DELAY: '10',
    ...env,
  });
}

function spansOf(receiver: OtlpReceiver, traceId: string): ReceivedSpan[] {
  return receiver.spans.filter((span) => span.traceId === traceId);
}

function one(spans: readonly ReceivedSpan[], name: string): ReceivedSpan {
  const found = spans.filter((span) => span.name === name);
  assert.equal(found.length, 1, `${found.length} spans named ${name}: ${spans.map((span) => span.name).join(', ')}`);
  return found[0] as ReceivedSpan;
}

function dropped(test: TestService, reason: string): Promise<number> {
  return test.service.metrics.registry
    .getSingleMetric('fraud_tracing_spans_dropped_total')
    ?.get()
    .then((metric) => metric.values.find((value) => value.labels.reason === reason)?.value ?? 0) ?? Promise.resolve(0);
}

describe('tracing (OpenTelemetry, OTLP to a collector over real sockets)', function () {
  this.timeout(30_000);

  describe('with OTEL_TRACES_EXPORTER=otlp', () => {
    let receiver: OtlpReceiver;
    let test: TestService;
    let stub: FraudServiceClient;

    before(async () => {
      receiver = await OtlpReceiver.start();
      test = await tracedService(receiver);
      stub = new FraudServiceClient(test.address, credentials.createInsecure());
    });

    after(async () => {
      stub.close();
      await test.stop();
      await receiver.close();
    });

    it("should export a Predict's server span as a child of the caller's trace context, with its decode, history and model spans", async () => {
      const sent = transaction();
      const answer = await predict(stub, sent, traced());
      const spans = await waitFor('the four spans of the Predict', () => {
        const received = spansOf(receiver, CALLER_TRACE_ID);
        return received.length >= 4 && received;
      });
      assert.deepEqual(spans.map((span) => span.name).sort(), ['fraud.decode', 'fraud.history.record', 'fraud.model.run', PREDICT].sort());

      const server = one(spans, PREDICT);
      assert.equal(server.kind, 2, 'SERVER');
      assert.equal(server.parentSpanId, CALLER_SPAN_ID);
      assert.equal(server.traceState, TRACESTATE);
      assert.deepEqual(server.attributes, {
        'rpc.system': 'grpc',
        'rpc.service': 'fraud.v1.FraudService',
        'rpc.method': 'Predict',
        'rpc.grpc.status_code': 0,
        'fraud.rows': 1,
      });
      assert.equal(server.status.code, 0, 'UNSET');
      assert.equal(server.resource['service.name'], 'fraud-scoring-test');
      assert.equal(server.resource['deployment.environment.name'], 'test');
      assert.equal(server.resource.team, 'risk ops');

      for (const name of ['fraud.decode', 'fraud.history.record', 'fraud.model.run']) {
        const child = one(spans, name);
        assert.equal(child.parentSpanId, server.spanId, `${name} is a child of the server span`);
        assert.equal(child.kind, 1, 'INTERNAL');
        assert.equal(child.attributes['fraud.rows'], 1);
      }
      assert.equal(one(spans, 'fraud.history.record').attributes['fraud.history.store'], 'memory');
      const model = one(spans, 'fraud.model.run');
      assert.equal(model.attributes['fraud.model.name'], answer.model?.name);
      assert.equal(model.attributes['fraud.model.version'], answer.model?.version);
      assert.equal(model.attributes['fraud.model.revision'], answer.model?.revision);
      assert.equal(model.attributes['fraud.model.task'], 'binary');

      // No transaction, card or terminal id, nor the amount, in any attribute.
      const values = spans.flatMap((span) => Object.values(span.attributes)).map(String);
      for (const secret of [sent.transactionId, sent.customerId, sent.terminalId, sent.txAmount].map(String)) {
        assert.ok(!values.includes(secret), `an attribute holds ${secret}`);
      }
    });

    it('should start a new trace for a caller without trace context, and record the batch size of a batch', async () => {
      const before = new Set(receiver.spans.map((span) => span.spanId));
      await new Promise<void>((resolveCall, rejectCall) => {
        stub.predictBatch({ transactions: [transaction(), transaction(), transaction()], explain: false }, (error: ServiceError | null) => {
          if (error === null) resolveCall();
          else rejectCall(error);
        });
      });
      const server = await waitFor('the PredictBatch span', () => receiver.spans.find((span) => span.name === 'fraud.v1.FraudService/PredictBatch' && !before.has(span.spanId)));
      assert.equal(server.parentSpanId, '');
      assert.notEqual(server.traceId, CALLER_TRACE_ID);
      assert.equal(server.attributes['fraud.rows'], 3);
      const children = await waitFor('its child spans', () => {
        const found = receiver.spans.filter((span) => span.parentSpanId === server.spanId);
        return found.length >= 4 && found;
      });
      assert.deepEqual(children.map((child) => child.name).sort(), ['fraud.batch.wait', 'fraud.decode', 'fraud.history.record', 'fraud.model.run']);
      for (const child of children) assert.equal(child.attributes['fraud.rows'], 3, child.name);
    });

    it("should record a refused call's status code, an error only where the service is at fault", async () => {
      const traceId = '5bf92f3577b34da6a3ce929d0e0e4736';
      const refused = await failure(predict(stub, { ...transaction(), txAmount: -1 }, traced(`00-${traceId}-${CALLER_SPAN_ID}-01`)));
      assert.equal(refused.code, status.INVALID_ARGUMENT);
      const server = await waitFor('the refused Predict span', () => spansOf(receiver, traceId).find((span) => span.name === PREDICT));
      assert.equal(server.attributes['rpc.grpc.status_code'], status.INVALID_ARGUMENT);
      assert.equal(server.status.code, 0, "a caller's bad request is not the server's error");
      assert.ok(!server.status.message.includes('-1'), 'no request text in the status');
    });

    it("should mark an undecodable request's decode span as an error, and put the call's trace and span ids on its log line", async () => {
      const traceId = '6bf92f3577b34da6a3ce929d0e0e4736';
      const client = new Client(test.address, credentials.createInsecure());
      const code = await new Promise<number>((resolveCall) => {
        const identity = (bytes: Buffer): Buffer => bytes;
        // Field 1 (transaction) with a length running past the end: not a message.
        client.makeUnaryRequest(`/${PREDICT}`, identity, identity, Buffer.from([0x0a, 0x7f, 0x01]), traced(`00-${traceId}-${CALLER_SPAN_ID}-01`), (error: ServiceError | null) => {
          resolveCall(error?.code ?? 0);
        });
      }).finally(() => {
        client.close();
      });
      assert.equal(code, status.INVALID_ARGUMENT);
      const spans = await waitFor('the undecodable call spans', () => {
        const found = spansOf(receiver, traceId);
        return found.length >= 2 && found;
      });
      const server = one(spans, PREDICT);
      const decode = one(spans, 'fraud.decode');
      assert.equal(decode.status.code, 2, 'ERROR');
      assert.equal(decode.status.message, 'MalformedRequestError');
      const line = test.logs.find((record) => record.msg === 'undecodable request refused' && record.trace_id === traceId);
      assert.ok(line, 'the log line of the traced call carries its trace_id');
      assert.equal(line.span_id, server.spanId);
    });

    it("should trace a ReportOutcome with its history span", async () => {
      const traceId = 'abf92f3577b34da6a3ce929d0e0e4736';
      const scored = transaction();
      await predict(stub, scored);
      await new Promise<void>((resolveCall, rejectCall) => {
        const outcome = { transactionId: scored.transactionId, outcome: Outcome.OUTCOME_FRAUD, knownAt: undefined, knownAtSeconds: 7200n };
        stub.reportOutcome({ outcome }, traced(`00-${traceId}-${CALLER_SPAN_ID}-01`), (error: ServiceError | null) => {
          if (error === null) resolveCall();
          else rejectCall(error);
        });
      });
      const spans = await waitFor('the ReportOutcome spans', () => {
        const found = spansOf(receiver, traceId);
        return found.length >= 3 && found;
      });
      const server = one(spans, 'fraud.v1.FraudService/ReportOutcome');
      assert.equal(server.parentSpanId, CALLER_SPAN_ID);
      assert.equal(server.attributes['rpc.method'], 'ReportOutcome');
      const history = one(spans, 'fraud.history.outcomes');
      assert.equal(history.parentSpanId, server.spanId);
      assert.deepEqual(history.attributes, { 'fraud.rows': 1, 'fraud.history.store': 'memory' });
      one(spans, 'fraud.decode');
    });

    it('should count what the collector took', async () => {
      const exported = await test.service.metrics.registry.getSingleMetric('fraud_tracing_spans_exported_total')?.get();
      assert.ok((exported?.values[0]?.value ?? 0) >= 4);
      assert.equal(await dropped(test, 'export_failed'), 0);
    });
  });

  /**
   * The protobuf exports are not decoded here: the caller's trace id (16 raw
   * bytes) and the span names in the export bodies show the spans went out.
   */
  const carryThePredict = (bodies: readonly Buffer[], traceId: string): boolean => {
    const body = Buffer.concat(bodies);
    return body.includes(Buffer.from(traceId, 'hex')) && ['fraud.decode', 'fraud.history.record', 'fraud.model.run', PREDICT].every((name) => body.includes(name));
  };

  it('should export over OTLP/HTTP protobuf (OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, the default)', async () => {
    const receiver = await OtlpReceiver.start();
    const test = await tracedService(receiver, { OTEL_EXPORTER_OTLP_PROTOCOL: '' });
    const stub = new FraudServiceClient(test.address, credentials.createInsecure());
    const traceId = '8bf92f3577b34da6a3ce929d0e0e4736';
    try {
      await predict(stub, transaction(), traced(`00-${traceId}-${CALLER_SPAN_ID}-01`));
      await waitFor('a protobuf export of the Predict', () => carryThePredict(receiver.protobufBodies, traceId));
    } finally {
      stub.close();
      await test.stop();
      await receiver.close();
    }
  });

  it('should export over OTLP/gRPC (OTEL_EXPORTER_OTLP_PROTOCOL=grpc)', async () => {
    const bodies: Buffer[] = [];
    const collector = new Server();
    const identity = (bytes: Buffer): Buffer => bytes;
    collector.addService(
      {
        Export: {
          path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
          requestStream: false,
          responseStream: false,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      },
      {
        Export: (call: { request: Buffer }, callback: (error: null, response: Buffer) => void) => {
          bodies.push(call.request);
          // An empty ExportTraceServiceResponse.
          callback(null, Buffer.alloc(0));
        },
      },
    );
    const port = await new Promise<number>((resolveBind, rejectBind) => {
      collector.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => {
        if (error) rejectBind(error);
        else resolveBind(bound);
      });
    });
    const test = await startTestService({
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_BSP_SCHEDULE_DELAY: '10',
    });
    const stub = new FraudServiceClient(test.address, credentials.createInsecure());
    const traceId = '9bf92f3577b34da6a3ce929d0e0e4736';
    try {
      await predict(stub, transaction(), traced(`00-${traceId}-${CALLER_SPAN_ID}-01`));
      await waitFor('a gRPC export of the Predict', () => carryThePredict(bodies, traceId));
    } finally {
      stub.close();
      await test.stop();
      collector.forceShutdown();
    }
  });

  it('should export nothing when OTEL_TRACES_EXPORTER is unset, even with an OTLP endpoint set', async () => {
    const receiver = await OtlpReceiver.start();
    const test = await startTestService({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '10' });
    const stub = new FraudServiceClient(test.address, credentials.createInsecure());
    try {
      await predict(stub, transaction(), traced());
      await predict(stub, transaction());
    } finally {
      stub.close();
      // Shutting down flushes whatever a tracer would have queued.
      await test.stop();
    }
    await receiver.close();
    assert.equal(receiver.requests, 0);
  });

  it("should export the spans of the calls still queued at shutdown, within the grace", async () => {
    const receiver = await OtlpReceiver.start();
    // Spans would otherwise leave only after ten minutes.
    const test = await tracedService(receiver, { OTEL_BSP_SCHEDULE_DELAY: '600000' });
    const stub = new FraudServiceClient(test.address, credentials.createInsecure());
    const traceId = '7bf92f3577b34da6a3ce929d0e0e4736';
    try {
      await predict(stub, transaction(), traced(`00-${traceId}-${CALLER_SPAN_ID}-01`));
    } finally {
      stub.close();
      await test.stop();
    }
    await receiver.close();
    assert.equal(spansOf(receiver, traceId).length, 4);
  });

  it('should answer every call while the collector is unreachable, and count the spans it could not take', async () => {
    const port = await freePort();
    const test = await startTestService({
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_EXPORTER_OTLP_TIMEOUT: '200',
      OTEL_BSP_SCHEDULE_DELAY: '10',
      OTEL_BSP_MAX_QUEUE_SIZE: '8',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '4',
    });
    const stub = new FraudServiceClient(test.address, credentials.createInsecure());
    try {
      for (let call = 0; call < 20; call++) await predict(stub, transaction(), traced());
      // Nothing can reach the collector: each of the 80 spans is either refused by the full queue or lost with its export.
      await waitFor('every span counted as dropped', async () => (await dropped(test, 'export_failed')) + (await dropped(test, 'queue_full')) === 80);
      assert.ok((await dropped(test, 'export_failed')) > 0);
      const warnings = test.logs.filter((record) => record.component === 'tracing' && record.level === 'warn');
      assert.equal(warnings.length, 1, 'the loss is logged once');
      assert.equal(warnings[0]?.reason, 'export_failed');
    } finally {
      stub.close();
      await test.stop();
    }
  });

  it('should answer every call while the collector hangs, dropping and counting the spans past the queue bound', async () => {
    const receiver = await OtlpReceiver.start({ blackhole: true });
    const test = await tracedService(receiver, {
      OTEL_EXPORTER_OTLP_TIMEOUT: '600000',
      OTEL_BSP_MAX_QUEUE_SIZE: '8',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '4',
      FRAUD_SHUTDOWN_GRACE_SECONDS: '0.5',
    });
    const stub = new FraudServiceClient(test.address, credentials.createInsecure());
    try {
      // The first export (4 spans) hangs; 8 more wait in the queue; the rest of the 80 spans are dropped.
      for (let call = 0; call < 20; call++) await predict(stub, transaction(), traced());
      await waitFor('an export attempted', () => receiver.requests >= 1);
      assert.ok((await dropped(test, 'queue_full')) >= 80 - 4 - 8);
    } finally {
      stub.close();
      await test.stop();
      await receiver.close();
    }
  });

  it('should give up on a collector that never answers within the shutdown grace, counting the spans left', async () => {
    const receiver = await OtlpReceiver.start({ blackhole: true });
    const test = await tracedService(receiver, { OTEL_BSP_SCHEDULE_DELAY: '600000', OTEL_EXPORTER_OTLP_TIMEOUT: '600000', FRAUD_SHUTDOWN_GRACE_SECONDS: '0.5' });
    const stub = new FraudServiceClient(test.address, credentials.createInsecure());
    try {
      await predict(stub, transaction(), traced());
    } finally {
      stub.close();
      await test.stop();
    }
    await waitFor('the export attempted', () => receiver.requests >= 1);
    await receiver.close();
    assert.equal(await dropped(test, 'shutdown'), 4);
  });

  it('should warn at start when the console exporter writes to a log level that leaves its lines out', async () => {
    const logs: LogRecord[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as LogRecord);
        done();
      },
    });
    const config = loadConfig({
      FRAUD_GRPC_HOST: '127.0.0.1',
      FRAUD_GRPC_PORT: '0',
      FRAUD_METRICS_HOST: '127.0.0.1',
      FRAUD_METRICS_PORT: '0',
      FRAUD_BINARY_MODEL_URI: bundled('fraud-binary'),
      FRAUD_SCENARIO_MODEL_URI: bundled('fraud-scenario'),
      OTEL_TRACES_EXPORTER: 'console',
    });
    const service = await startService(config, createLogger('warn', sink));
    await service.shutdown();
    assert.deepEqual(
      logs.filter((record) => record.component === 'tracing').map((record) => record.msg),
      ['OTEL_TRACES_EXPORTER=console writes spans as info log lines, which this log level (FRAUD_LOG_LEVEL) leaves out'],
    );
  });
});

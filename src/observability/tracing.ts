import { performance } from 'node:perf_hooks';
import { ServerInterceptingCall, status, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TracingConfig } from '../config/tracingConfig.js';
import { packageRoot } from '../packageRoot.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { SpanExporter } from '@opentelemetry/sdk-trace';

/**
 * OpenTelemetry tracing of the fraud service's calls (off unless
 * OTEL_TRACES_EXPORTER names an exporter; see config/tracingConfig.ts).
 *
 * A server interceptor starts one SERVER span per FraudService call, as a
 * child of the caller's W3C trace context (traceparent/tracestate metadata;
 * Envoy passes the HTTP headers of REST calls on as metadata), with the RPC
 * semantic conventions' attributes, and ends it with the status sent. The
 * handlers find it with `traceOf(call)` and add child spans for decoding,
 * history and the model run. Nothing is global: the SDK's tracer provider,
 * propagator and context manager are not registered with the API, and spans
 * are parented explicitly, so when tracing is off the predict path does no
 * tracing work at all (`traceOf` answers undefined before any lookup), and
 * the SDK is never loaded.
 *
 * Attributes carry no transaction, card or terminal ids, amounts or error
 * texts (a refusal's text can name a card): a span is joined to the caller's
 * trace, which has the ids, and the service's log lines of the call carry
 * the same trace_id and span_id.
 */

/** RPC semantic conventions (still "development" in @opentelemetry/semantic-conventions/incubating, so copied, as its README advises). */
export const ATTR_RPC_SYSTEM = 'rpc.system';
export const ATTR_RPC_SERVICE = 'rpc.service';
export const ATTR_RPC_METHOD = 'rpc.method';
export const ATTR_RPC_GRPC_STATUS_CODE = 'rpc.grpc.status_code';
/** Transactions (or outcomes) in the call: one for unary calls, the batch size otherwise. */
export const ATTR_ROWS = 'fraud.rows';
export const ATTR_MODEL_TASK = 'fraud.model.task';
export const ATTR_MODEL_NAME = 'fraud.model.name';
export const ATTR_MODEL_VERSION = 'fraud.model.version';
export const ATTR_MODEL_REVISION = 'fraud.model.revision';
export const ATTR_HISTORY_STORE = 'fraud.history.store';

export const SPAN_DECODE = 'fraud.decode';
/** A batch waiting for its turn in the batch lane (src/api/batchLane.ts). */
export const SPAN_BATCH_WAIT = 'fraud.batch.wait';
export const SPAN_HISTORY_RECORD = 'fraud.history.record';
export const SPAN_HISTORY_OUTCOMES = 'fraud.history.outcomes';
export const SPAN_MODEL_RUN = 'fraud.model.run';
/** The shadow model's run over a call's transactions: a child of the call's span, after the call has ended. */
export const SPAN_SHADOW_RUN = 'fraud.shadow.run';

/** Only the scoring API is traced: health probes and reflection would only add noise. */
const TRACED_SERVICE = 'fraud.v1.FraudService';

/**
 * Server span status by gRPC code, as the RPC conventions say for servers:
 * an error only where the server is at fault; a caller's bad request or a
 * refusal is UNSET.
 */
const SERVER_ERROR_CODES: ReadonlySet<number> = new Set([
  status.UNKNOWN,
  status.DEADLINE_EXCEEDED,
  status.UNIMPLEMENTED,
  status.INTERNAL,
  status.UNAVAILABLE,
  status.DATA_LOSS,
]);

const STATUS_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(status).filter(([, code]) => typeof code === 'number').map(([name, code]) => [code, name]),
);

/** Reads W3C trace context from gRPC metadata (keys are lower case there, as in HTTP/2). */
const METADATA_GETTER: TextMapGetter<Metadata> = {
  keys: (metadata) => Object.keys(metadata.getMap()),
  get: (metadata, key) => {
    const values = metadata.get(key);
    if (values.length === 0) return undefined;
    const text = values.filter((value): value is string => typeof value === 'string');
    return text.length === 1 ? text[0] : text;
  },
};

/** The calls being traced, by the metadata object grpc-js hands both the interceptor and the handler. */
const callTraces = new WeakMap<Metadata, CallTrace>();
/** Started Tracing instances: while none runs, `traceOf` costs one comparison. */
let running = 0;

/** The trace of a call to the fraud service, or undefined when tracing is off or the call is not sampled. */
export function traceOf(call: { readonly metadata: Metadata }): CallTrace | undefined {
  return running === 0 ? undefined : callTraces.get(call.metadata);
}

/** One traced call: its server span, and child spans under it. */
export class CallTrace {
  private parent: Context | undefined;

  constructor(
    private readonly tracer: Tracer,
    readonly span: Span,
  ) {}

  /**
   * A child span of the call, started now (or at `startTime`, from
   * preciseTime()); end it with `traced` or `endSpan`.
   */
  start(name: string, attributes?: Attributes, startTime?: number): Span {
    this.parent ??= trace.setSpan(ROOT_CONTEXT, this.span);
    return this.tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes, startTime }, this.parent);
  }

  /** trace_id and span_id of the call's span, for the log lines written for it. */
  get logFields(): { trace_id: string; span_id: string } {
    const { traceId, spanId } = this.span.spanContext();
    return { trace_id: traceId, span_id: spanId };
  }
}

/**
 * Now, in Unix milliseconds with a fraction, from the monotonic clock: the
 * SDK takes span start times from Date.now() (whole milliseconds), too coarse
 * to order two moments of one call (its answer sent, its shadow run started).
 */
export function preciseTime(): number {
  return performance.timeOrigin + performance.now();
}

/** Ends `span` when `work` settles (marked as an error if it fails); without a span, `work` itself. */
export function traced<T>(span: Span | undefined, work: Promise<T>): Promise<T> {
  if (span === undefined) return work;
  return work.then(
    (value) => {
      span.end();
      return value;
    },
    (error: unknown) => {
      endSpan(span, error);
      throw error;
    },
  );
}

/** Ends `span`, as an error when `error` is given: its class name only, never its text (which may name a card). */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'Error' });
  span.end();
}

/** What the service needs of the SDK's tracer provider. */
interface TracerProviderHandle {
  getTracer(name: string, version?: string): Tracer;
  shutdown(): Promise<void>;
}

export class Tracing {
  private stopped = false;

  private constructor(
    private readonly provider: TracerProviderHandle,
    private readonly tracer: Tracer,
    private readonly propagator: { extract(context: Context, carrier: Metadata, getter: TextMapGetter<Metadata>): Context } | undefined,
    /** Spans finished and not yet taken by the collector: queued, or in an export still running. */
    private readonly unexportedSpans: () => number,
    private readonly onShutdownDrop: (count: number) => void,
    private readonly logger: Logger,
  ) {
    running++;
  }

  /**
   * Builds the SDK pipeline `config` describes: sampler, resource, exporters
   * behind a bounded batch queue. The SDK is loaded here, so a service that
   * does not trace never loads it.
   */
  static async start(config: TracingConfig, logger: Logger, metrics: Metrics): Promise<Tracing> {
    const serviceVersion = (JSON.parse(await readFile(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
    const [
      { TracerProvider, BatchSpanProcessor, AlwaysOnSampler, AlwaysOffSampler, ParentBasedSampler, TraceIdRatioBasedSampler },
      { resourceFromAttributes },
      { W3CTraceContextPropagator },
      { ATTR_SERVICE_VERSION },
      exportParts,
    ] = await Promise.all([
      import('@opentelemetry/sdk-trace'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/core'),
      import('@opentelemetry/semantic-conventions'),
      import('./spanExport.js'),
    ]);
    const { SpanLoss, BoundedSpanProcessor, ReportingExporter, LogSpanExporter } = exportParts;
    const tracingLogger = logger.child({ component: 'tracing' });
    const loss = new SpanLoss(metrics, tracingLogger);

    const root = config.sampler.endsWith('always_off')
      ? new AlwaysOffSampler()
      : config.sampler.endsWith('traceidratio')
        ? new TraceIdRatioBasedSampler(config.samplerRatio)
        : new AlwaysOnSampler();
    const sampler = config.sampler.startsWith('parentbased_') ? new ParentBasedSampler({ root }) : root;

    const queues: InstanceType<typeof BoundedSpanProcessor>[] = [];
    const exporters: InstanceType<typeof ReportingExporter>[] = [];
    const spanProcessors = [];
    for (const kind of config.exporters) {
      const exporter: SpanExporter = kind === 'console' ? new LogSpanExporter(tracingLogger) : await otlpExporter(config);
      // The exporter tells the queue in front of the batch processor what it took.
      const link: { queue?: InstanceType<typeof BoundedSpanProcessor> } = {};
      const reporting = new ReportingExporter(exporter, () => link.queue, loss);
      exporters.push(reporting);
      const batch = new BatchSpanProcessor({
        exporter: reporting,
        maxQueueSize: config.batch.maxQueueSize,
        maxExportBatchSize: config.batch.maxExportBatchSize,
        scheduledDelayMillis: config.batch.scheduledDelayMs,
        exportTimeoutMillis: config.batch.exportTimeoutMs,
      });
      const queue = new BoundedSpanProcessor(batch, config.batch.maxQueueSize, loss);
      link.queue = queue;
      queues.push(queue);
      spanProcessors.push(queue);
    }
    const provider = new TracerProvider({
      sampler,
      resource: resourceFromAttributes({ [ATTR_SERVICE_VERSION]: serviceVersion, ...config.resource }),
      spanProcessors,
    });
    if (config.exporters.includes('console') && !tracingLogger.isLevelEnabled('info')) {
      tracingLogger.warn({ level: tracingLogger.level }, 'OTEL_TRACES_EXPORTER=console writes spans as info log lines, which this log level (FRAUD_LOG_LEVEL) leaves out');
    }
    tracingLogger.info(
      { exporters: config.exporters, protocol: config.exporters.includes('otlp') ? config.protocol : undefined, endpoint: config.exporters.includes('otlp') ? config.endpoint : undefined, sampler: config.sampler, ratio: config.samplerRatio },
      'tracing on',
    );
    return new Tracing(
      provider,
      provider.getTracer('fraud-scoring', serviceVersion),
      config.propagate ? new W3CTraceContextPropagator() : undefined,
      () => queues.reduce((sum, queue) => sum + queue.pending, 0) + exporters.reduce((sum, exporter) => sum + exporter.inFlight, 0),
      (count) => {
        loss.dropped('shutdown', count);
      },
      tracingLogger,
    );
  }

  /** Starts a server span per FraudService call and ends it with the status the call got. */
  readonly interceptor: ServerInterceptor = (method, call) => {
    const slash = method.path.lastIndexOf('/');
    const service = method.path.slice(1, slash);
    if (service !== TRACED_SERVICE) return new ServerInterceptingCall(call);
    const name = method.path.slice(slash + 1);
    let span: Span | undefined;
    let ended = false;
    let answered = false;
    const end = (code: number): void => {
      if (ended || span === undefined) return;
      ended = true;
      span.setAttribute(ATTR_RPC_GRPC_STATUS_CODE, code);
      if (SERVER_ERROR_CODES.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message: STATUS_NAMES[code] ?? String(code) });
      span.end();
    };
    return new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const parent = this.propagator === undefined ? ROOT_CONTEXT : this.propagator.extract(ROOT_CONTEXT, metadata, METADATA_GETTER);
            span = this.tracer.startSpan(
              `${service}/${name}`,
              { kind: SpanKind.SERVER, attributes: { [ATTR_RPC_SYSTEM]: 'grpc', [ATTR_RPC_SERVICE]: service, [ATTR_RPC_METHOD]: name } },
              parent,
            );
            // An unsampled call gets no CallTrace: its handlers skip the child spans.
            if (span.isRecording() && !this.stopped) callTraces.set(metadata, new CallTrace(this.tracer, span));
            nextMetadata(metadata);
          },
          onCancel: () => {
            // The call ended without a status from the service: its client cancelled or its deadline passed.
            end(deadlinePassed(call.getDeadline()) ? status.DEADLINE_EXCEEDED : status.CANCELLED);
          },
        });
      },
      // The answer handed to grpc-js (the first message: a unary call's only one), as the RPC conventions' message event.
      sendMessage: (message, nextMessage) => {
        if (!answered && span !== undefined) {
          answered = true;
          span.addEvent('message', { 'message.type': 'SENT', 'message.id': 1 }, preciseTime());
        }
        nextMessage(message);
      },
      sendStatus: (sent, nextStatus) => {
        end(sent.code);
        nextStatus(sent);
      },
    });
  };

  /**
   * Exports what is still queued, waiting at most `timeoutMs` (what is left
   * of the shutdown grace); spans still queued then are counted as dropped.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    running--;
    let timer: NodeJS.Timeout | undefined;
    const flushed = await Promise.race([
      this.provider.shutdown().then(
        () => true,
        (error: unknown) => {
          this.logger.warn({ error: error instanceof Error ? error.message : String(error) }, 'trace export at shutdown failed');
          return true;
        },
      ),
      new Promise<false>((resolveTimeout) => {
        timer = setTimeout(() => {
          resolveTimeout(false);
        }, Math.max(0, timeoutMs));
      }),
    ]);
    clearTimeout(timer);
    if (!flushed) {
      const left = this.unexportedSpans();
      if (left > 0) this.onShutdownDrop(left);
      this.logger.warn({ spans: left, timeoutMs }, 'trace export did not finish within the shutdown grace: queued spans are dropped');
    }
  }
}

/** The OTLP exporter of the configured protocol; headers, compression and TLS files come from its own OTEL_EXPORTER_OTLP_* variables. */
async function otlpExporter(config: TracingConfig): Promise<SpanExporter> {
  const options = { url: config.endpoint, timeoutMillis: config.exportTimeoutMs };
  switch (config.protocol) {
    case 'http/json':
      return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter(options);
    case 'http/protobuf':
      return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter(options);
    case 'grpc':
      return new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter(options);
  }
}

function deadlinePassed(deadline: Date | number): boolean {
  return Date.now() >= (deadline instanceof Date ? deadline.getTime() : deadline);
}

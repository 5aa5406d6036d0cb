import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Buckets for answers that normally take well under a millisecond, with a tail
 * up to seconds for batches and stalls. Kept sorted (the original's were not).
 */
export const LATENCY_BUCKETS_SECONDS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

const BATCH_SIZE_BUCKETS = [1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000];

/** The `method` label of calls to methods the server does not have (one value, so cardinality stays bounded). */
export const UNKNOWN_METHOD = 'unknown';

/** Every metric the service exports, in one registry served on the metrics port. */
export class Metrics {
  readonly registry = new Registry();

  /** Transactions held by admission control now; read at scrape time. */
  rowsInFlightSource: () => number = () => 0;
  /** Calls answered before reaching any method (unknown methods), since start; read at scrape time. */
  unroutedCallsSource: () => number = () => 0;
  private unroutedCounted = 0;

  readonly rpcRequests: Counter<'method' | 'code'> = new Counter({
    name: 'fraud_grpc_requests_total',
    help:
      'gRPC calls answered, by method and the status code the client got: CANCELLED and DEADLINE_EXCEEDED for calls that ended without an answer, ' +
      `RESOURCE_EXHAUSTED for requests over the size limit or refused by admission control, method="${UNKNOWN_METHOD}" (UNIMPLEMENTED) for methods the server does not have.`,
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
    collect: () => {
      const unrouted = this.unroutedCallsSource();
      if (unrouted > this.unroutedCounted) {
        this.rpcRequests.labels(UNKNOWN_METHOD, 'UNIMPLEMENTED').inc(unrouted - this.unroutedCounted);
        this.unroutedCounted = unrouted;
      }
    },
  });

  readonly undecodableRequests = new Counter({
    name: 'fraud_grpc_undecodable_requests_total',
    help: 'Requests refused with INVALID_ARGUMENT because their bytes are not a valid message of the method (not protobuf, wrong wire types, out-of-range timestamps), by method.',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });

  readonly rowsInFlight: Gauge = new Gauge({
    name: 'fraud_rows_in_flight',
    help: 'Transactions held by admission control: being scored, or answered and waiting for their client to read the answer.',
    registers: [this.registry],
    collect: () => {
      this.rowsInFlight.set(this.rowsInFlightSource());
    },
  });

  readonly admissionRefusals = new Counter({
    name: 'fraud_admission_refused_total',
    help: 'Scoring calls refused with RESOURCE_EXHAUSTED because their transactions would exceed the limit of the process or of their connection, by limit.',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  readonly rpcDuration = new Histogram({
    name: 'fraud_grpc_request_duration_seconds',
    help: 'Time from receiving a gRPC call to sending its answer, by method.',
    labelNames: ['method'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });

  readonly rpcInFlight = new Gauge({
    name: 'fraud_grpc_requests_in_flight',
    help: 'gRPC calls being handled now.',
    registers: [this.registry],
  });

  readonly batchSize = new Histogram({
    name: 'fraud_batch_size',
    help: 'Transactions per batch call, by method.',
    labelNames: ['method'] as const,
    buckets: BATCH_SIZE_BUCKETS,
    registers: [this.registry],
  });

  readonly predictions = new Counter({
    name: 'fraud_predictions_total',
    help: 'Transactions scored, by task, model name and predicted class label.',
    labelNames: ['task', 'model', 'class'] as const,
    registers: [this.registry],
  });

  readonly inferenceDuration = new Histogram({
    name: 'fraud_model_inference_duration_seconds',
    help: 'Time from handing rows to the model to getting probabilities back, per call (unary calls in flight share runs, so this includes waiting for the shared run), by task.',
    labelNames: ['task'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });

  readonly modelLoads = new Counter({
    name: 'fraud_model_loads_total',
    help: 'Model versions loaded and put into service, by task.',
    labelNames: ['task'] as const,
    registers: [this.registry],
  });

  readonly modelLoadFailures = new Counter({
    name: 'fraud_model_load_failures_total',
    help: 'Model versions refused or that failed to load, by task and reason (the previous version keeps serving).',
    labelNames: ['task', 'reason'] as const,
    registers: [this.registry],
  });

  readonly modelSourceErrors = new Counter({
    name: 'fraud_model_source_errors_total',
    help: 'Failed checks of a model source (store unreachable, access denied, not found), by task.',
    labelNames: ['task', 'reason'] as const,
    registers: [this.registry],
  });

  readonly modelPending = new Gauge({
    name: 'fraud_model_pending_version',
    help: '1 while a new manifest waits for its .onnx to arrive (sha256 mismatch not yet resolved), by task.',
    labelNames: ['task'] as const,
    registers: [this.registry],
  });

  readonly modelInfo = new Gauge({
    name: 'fraud_model_info',
    help: 'Always 1, for the model version serving each task; labels say which.',
    labelNames: ['task', 'name', 'version', 'revision', 'source'] as const,
    registers: [this.registry],
  });

  readonly modelSessions = new Gauge({
    name: 'fraud_model_sessions_open',
    help: 'Native onnxruntime sessions alive: the serving ones, plus replaced ones still held by running calls. Should settle at 2.',
    registers: [this.registry],
  });

  readonly modelServing = new Gauge({
    name: 'fraud_model_serving',
    help: '1 when a model serves the task, else 0.',
    labelNames: ['task'] as const,
    registers: [this.registry],
  });

  readonly modelLoadedTime = new Gauge({
    name: 'fraud_model_loaded_timestamp_seconds',
    help: 'When the serving version of each task was loaded (Unix time).',
    labelNames: ['task'] as const,
    registers: [this.registry],
  });

  readonly modelLastCheckTime = new Gauge({
    name: 'fraud_model_last_check_success_timestamp_seconds',
    help: 'Last successful check of each task\'s model source (Unix time).',
    labelNames: ['task'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Buckets for answers that normally take well under a millisecond, with a tail
 * up to seconds for batches and stalls. Kept sorted (the original's were not).
 */
export const LATENCY_BUCKETS_SECONDS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

const BATCH_SIZE_BUCKETS = [1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000];

/** Every metric the service exports, in one registry served on the metrics port. */
export class Metrics {
  readonly registry = new Registry();

  readonly rpcRequests = new Counter({
    name: 'fraud_grpc_requests_total',
    help: 'gRPC calls handled, by method and status code.',
    labelNames: ['method', 'code'] as const,
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

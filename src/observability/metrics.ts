import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ScoreHistogram } from './scoreHistogram.js';
import { ShadowMetrics } from './shadowMetrics.js';
import { StateMetrics } from './stateMetrics.js';
import { LATENCY_BUCKETS_SECONDS } from './latencyBuckets.js';


const BATCH_SIZE_BUCKETS = [1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000];

/**
 * The `method` label of calls to methods the server does not have: gRPC's
 * OpenTelemetry metrics (gRFC A66) name them "other", so no label value
 * comes from a caller. Every other call is labelled with its full method
 * name, `fraud.v1.FraudService/Predict`, `grpc.health.v1.Health/Watch`.
 */
export const UNREGISTERED_METHOD = 'other';

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
      'gRPC calls answered, by full method name (fraud.v1.FraudService/Predict) and the status code the client got: CANCELLED and DEADLINE_EXCEEDED for calls that ended without an answer, ' +
      `RESOURCE_EXHAUSTED for requests over the size limit, refused by admission control or reset with their answer unread, method="${UNREGISTERED_METHOD}" (UNIMPLEMENTED) for methods the server does not have.`,
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
    collect: () => {
      const unrouted = this.unroutedCallsSource();
      if (unrouted > this.unroutedCounted) {
        this.rpcRequests.labels(UNREGISTERED_METHOD, 'UNIMPLEMENTED').inc(unrouted - this.unroutedCounted);
        this.unroutedCounted = unrouted;
      }
    },
  });

  readonly retryAttempts = new Counter({
    name: 'fraud_grpc_retry_attempts_total',
    help:
      'gRPC calls that arrived as retries of an earlier attempt (with the grpc-previous-rpc-attempts header clients with a retryPolicy send), by full method name; ' +
      'counted in fraud_grpc_requests_total too, so their share there is the load retries add.',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });

  readonly undecodableRequests = new Counter({
    name: 'fraud_grpc_undecodable_requests_total',
    help: 'Requests refused with INVALID_ARGUMENT because their bytes are not a valid message of the method (not protobuf, wrong wire types, out-of-range timestamps), by method.',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });

  readonly rowsInFlight: Gauge = new Gauge({
    name: 'fraud_rows_in_flight',
    help: 'Rows (transactions, outcomes) held by admission control: being scored or recorded, or answered and waiting for their client to read the answer.',
    registers: [this.registry],
    collect: () => {
      this.rowsInFlight.set(this.rowsInFlightSource());
    },
  });

  readonly admissionRefusals = new Counter({
    name: 'fraud_admission_refused_total',
    help: 'Scoring and outcome calls refused with RESOURCE_EXHAUSTED because their rows would exceed the limit of the process or of their connection, by limit.',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  readonly unreadAnswerResets = new Counter({
    name: 'fraud_unread_answers_reset_total',
    help:
      'Calls reset (RST_STREAM, clients see RESOURCE_EXHAUSTED) with their answer still unread, their rows given back, by reason: ' +
      'time_limit (unread for FRAUD_UNREAD_ANSWER_SECONDS), fair_share (taken back for a connection within its share of a full process).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /** Health Watch streams open now; read at scrape time. */
  healthWatchesSource: () => number = () => 0;

  readonly healthWatches: Gauge = new Gauge({
    name: 'fraud_health_watches',
    help: 'grpc.health.v1.Health/Watch streams open now.',
    registers: [this.registry],
    collect: () => {
      this.healthWatches.set(this.healthWatchesSource());
    },
  });

  /** Whether each health service name reports SERVING now; read at scrape time. */
  healthServingSource: () => Iterable<readonly [string, boolean]> = () => [];

  readonly healthServing: Gauge<'service'> = new Gauge({
    name: 'fraud_health_serving',
    help: '1 while grpc.health.v1 reports SERVING for the service name, else 0: "" and fraud.v1.FraudService (readiness: every model loaded, the history store answered), one name per task (fraud.v1.FraudService/binary, /multiclass) and the history (/history).',
    labelNames: ['service'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [service, serving] of this.healthServingSource()) this.healthServing.labels(service).set(serving ? 1 : 0);
    },
  });

  readonly healthWatchRefusals = new Counter({
    name: 'fraud_health_watches_refused_total',
    help: 'Health Watch streams refused with RESOURCE_EXHAUSTED, by the limit that refused them: process (FRAUD_HEALTH_MAX_WATCHES) or connection (FRAUD_HEALTH_MAX_WATCHES_PER_CONNECTION).',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  readonly rpcDuration = new Histogram({
    name: 'fraud_grpc_request_duration_seconds',
    help: 'Time from receiving a gRPC call to its end, by full method name: every call, streams included (grpc.health.v1.Health/Watch lasts as long as its client watches).',
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
    help: 'Transactions scored, by task, model name, model version and predicted class label (the serving versions only: a replaced version\'s series go once its last call has finished).',
    labelNames: ['task', 'model', 'version', 'class'] as const,
    registers: [this.registry],
  });

  readonly predictionScores = new ScoreHistogram(this.registry);

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
    help: 'Always 1, for the model version serving each task; labels say which (source, the store URL, only with FRAUD_MODEL_INFO_DETAILS=true, as in GetModelInfo).',
    labelNames: ['task', 'name', 'version', 'revision', 'source'] as const,
    registers: [this.registry],
  });

  readonly modelSessions = new Gauge({
    name: 'fraud_model_sessions_open',
    help: 'Native onnxruntime sessions alive: the serving ones and the shadow ones, plus replaced ones still held by running calls. Should settle at 2, plus one per shadow model.',
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

  /** The state store's metrics (fraud_state_*). */
  readonly state = new StateMetrics(this.registry);

  // TLS and authentication (src/security/).
  readonly authRefusals = new Counter({
    name: 'fraud_auth_refusals_total',
    help:
      'Calls refused by authentication, by full gRPC method and reason: credentials_missing and token_invalid (UNAUTHENTICATED), ' +
      'client_not_allowed (PERMISSION_DENIED: a verified client certificate not in FRAUD_AUTH_CLIENT_NAMES tried to write).',
    labelNames: ['method', 'reason'] as const,
    registers: [this.registry],
  });

  readonly tlsCertificateExpiry = new Gauge({
    name: 'fraud_tls_certificate_expiry_timestamp_seconds',
    help: 'When the certificate the service serves with expires (Unix time), by certificate: server (FRAUD_TLS_CERT_FILE), client_ca (the first to expire in FRAUD_TLS_CLIENT_CA_FILE).',
    labelNames: ['certificate'] as const,
    registers: [this.registry],
  });

  readonly tlsReloads = new Counter({
    name: 'fraud_tls_reloads_total',
    help:
      'Changed certificate files read again (every FRAUD_TLS_RELOAD_SECONDS), by result: ok (served to new connections from then on), ' +
      'error (unreadable, mismatched or expired: the last good certificate is kept, and the error logged once).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly authTokenReloads = new Counter({
    name: 'fraud_auth_tokens_reloads_total',
    help: 'Changed FRAUD_AUTH_TOKENS_FILE read again, by result: ok, error (unreadable or malformed: the last good tokens are kept, and the error logged once).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  /** Spans that never reached the collector (tracing on), by reason: queue_full, export_failed, shutdown. */
  readonly tracingSpansDropped = new Counter({
    name: 'fraud_tracing_spans_dropped_total',
    help:
      'Trace spans dropped with tracing on, by reason: queue_full (the export queue, OTEL_BSP_MAX_QUEUE_SIZE, was full: the collector is slow or unreachable), ' +
      'export_failed (the collector refused them or could not be reached), shutdown (not yet exported when the shutdown grace ran out).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly tracingSpansExported = new Counter({
    name: 'fraud_tracing_spans_exported_total',
    help: 'Trace spans the collector accepted (tracing on).',
    registers: [this.registry],
  });

  /** The shadow models' metrics (fraud_shadow_*): load state, scores, shed rows; see shadowMetrics.ts. */
  readonly shadow = new ShadowMetrics(this.registry, LATENCY_BUCKETS_SECONDS);

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  // Decision log (src/decisionLog): per sink, records written, dropped, buffered, and failed writes.
  readonly decisionLogRecords = new Counter({
    name: 'fraud_decision_log_records_total',
    help: 'Decision records written to the decision log, by sink (file, kafka, s3): appended to a file, acknowledged by Kafka, or put in object storage.',
    labelNames: ['sink'] as const,
    registers: [this.registry],
  });

  readonly decisionLogDropped = new Counter({
    name: 'fraud_decision_log_records_dropped_total',
    help:
      'Decision records dropped, by sink and reason: buffer_full (the sink was down or slower than the calls and its buffer, FRAUD_DECISION_LOG_BUFFER_RECORDS, was full), ' +
      'shutdown (still buffered when the shutdown grace period ended), unencodable (a record could not be built).',
    labelNames: ['sink', 'reason'] as const,
    registers: [this.registry],
  });

  readonly decisionLogWriteFailures = new Counter({
    name: 'fraud_decision_log_write_failures_total',
    help: 'Failed writes of a batch of decision records, by sink; the batch stays buffered and is written again with backoff.',
    labelNames: ['sink'] as const,
    registers: [this.registry],
  });

  readonly qualityScoresNotKept = new Counter({
    name: 'fraud_quality_scores_not_kept_total',
    help:
      'Model scores of answered transactions not kept with the transaction for live quality (their outcome joins without them), by reason: ' +
      'unknown_transaction (not remembered: never recorded, refused as late, evicted or expired), reused_id (the id is remembered for another customer or terminal), ' +
      'too_many_models (the transaction already keeps 4 model revisions), store_unavailable (the state store did not take them), ' +
      'queue_full (more than FRAUD_QUALITY_MAX_PENDING_SCORES transactions waited), shutdown (still queued when the shutdown grace ended), ' +
      'unknown_model (Redis: the model registry lost the revision a kept score names), unencodable (an answer could not be read back).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /** Answered transactions whose scores wait to be kept in the state store; read at scrape time. */
  qualityScoresPendingSource: () => number = () => 0;

  readonly qualityScoresPending = new Gauge({
    name: 'fraud_quality_scores_pending',
    help: 'Answered transactions whose model scores wait to be kept with the transaction in the state store (queued or being written); at most FRAUD_QUALITY_MAX_PENDING_SCORES.',
    registers: [this.registry],
    collect: () => {
      this.qualityScoresPending.set(this.qualityScoresPendingSource());
    },
  });

  /** Records each decision log sink holds now; read at scrape time. */
  decisionLogBufferedSource: () => readonly { sink: string; records: number }[] = () => [];

  readonly decisionLogBuffered: Gauge<'sink'> = new Gauge({
    name: 'fraud_decision_log_buffered_records',
    help: 'Decision records buffered for a sink (waiting or being written), by sink; at most FRAUD_DECISION_LOG_BUFFER_RECORDS, and what a crash would lose.',
    labelNames: ['sink'] as const,
    registers: [this.registry],
    collect: () => {
      for (const { sink, records } of this.decisionLogBufferedSource()) this.decisionLogBuffered.labels(sink).set(records);
    },
  });
}

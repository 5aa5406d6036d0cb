import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ScoreHistogram } from './scoreHistogram.js';
import { ShadowMetrics } from './shadowMetrics.js';

/**
 * Buckets for answers that normally take well under a millisecond, with a tail
 * up to seconds for batches and stalls. Kept sorted (the original's were not).
 */
export const LATENCY_BUCKETS_SECONDS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

const BATCH_SIZE_BUCKETS = [1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000];

/** What the state gauges read from a store when Prometheus scrapes. */
export interface StateStatsView {
  readonly customers: number;
  readonly terminals: number;
  readonly transactions: number;
  readonly bytes: { readonly customer: number; readonly terminal: number; readonly transaction: number };
  readonly watermark: number;
  /** Customers plus terminals by eviction segment (embedded store). */
  readonly segments?: { readonly probation: number; readonly established: number };
}
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

  readonly stateOperationDuration = new Histogram({
    name: 'fraud_state_operation_duration_seconds',
    help: 'Time the state store took per call, by store (memory, redis) and operation (record: read and update the history of a call\'s transactions; outcomes).',
    labelNames: ['store', 'operation'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });

  readonly stateErrors = new Counter({
    name: 'fraud_state_errors_total',
    help: 'State store operations that failed (the call got UNAVAILABLE), by store and reason (timeout, unavailable, overloaded, out_of_memory, error, replicas_behind).',
    labelNames: ['store', 'reason'] as const,
    registers: [this.registry],
  });

  readonly stateDuplicates = new Counter({
    name: 'fraud_state_duplicate_transactions_total',
    help: 'Scored transactions that were already recorded (retries, or the same transaction sent to Predict and PredictScenario): counted once in the history.',
    registers: [this.registry],
  });

  readonly stateForgottenRetries = new Counter({
    name: 'fraud_state_forgotten_retries_total',
    help: 'Embedded store: retries the transaction index had forgotten (FRAUD_STATE_MAX_TRANSACTIONS reached within the retention), recognised by their card, which still held them: counted once all the same. Retries neither still holds count twice at their terminal; see fraud_state_evictions_total{kind="transaction"}.',
    registers: [this.registry],
  });

  readonly stateRefused = new Counter({
    name: 'fraud_state_refused_transactions_total',
    help: 'Transactions refused, by reason: late (older than the watermark minus the lateness), future (too far ahead of the clock), conflicting_repeat (an id already recorded for the same customer and terminal with another amount or event time; the call got ALREADY_EXISTS).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly stateOutcomes = new Counter({
    name: 'fraud_state_outcomes_total',
    help: 'Fraud outcomes reported, by status (applied, duplicate, conflict, unknown_transaction, before_transaction; corrections: corrected, out_of_order, too_many_corrections).',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly stateEvictions = new Counter({
    name: 'fraud_state_evictions_total',
    help: 'Entities (customer, terminal) or remembered transactions dropped because a limit was reached, not because they expired; non-zero means the limits are too small for the traffic.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly stateStoreUp = new Gauge({
    name: 'fraud_state_store_up',
    help: 'Whether the state store answers, by store: 1, or 0 during an outage (history calls then fail with UNAVAILABLE). The embedded store is always 1.',
    labelNames: ['store'] as const,
    registers: [this.registry],
  });

  readonly stateRepairs = new Counter({
    name: 'fraud_state_repairs_total',
    help: 'Redis store: terminal counts taken back right after a call, by reason: late (the customer refused a transaction its terminal had counted in the same round trip), repeat (a retry the terminal no longer remembered); dropped counts repairs lost because too many waited for Redis.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly stateSnapshots = new Counter({
    name: 'fraud_state_snapshots_total',
    help: 'Snapshots of the embedded store written, by result (ok, error).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly stateSnapshotTime = new Gauge({
    name: 'fraud_state_snapshot_timestamp_seconds',
    help: 'When the last snapshot of the embedded store was written (Unix time).',
    registers: [this.registry],
  });

  readonly stateSnapshotDuration = new Histogram({
    name: 'fraud_state_snapshot_duration_seconds',
    help: 'Time to write a snapshot of the embedded store.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly stateLost = new Counter({
    name: 'fraud_state_store_lost_total',
    help: 'Times this replica found that the state store lost the history it had (Redis: the generation marker gone or replaced, e.g. a restart without persistence, FLUSHALL, eviction), by store.',
    labelNames: ['store'] as const,
    registers: [this.registry],
  });

  readonly stateHistoryIncomplete = new Gauge({
    name: 'fraud_state_history_incomplete',
    help: 'By store: 1 while the history is known to be incomplete after a loss (until event time has moved past the loss by the longest window plus the delay and lateness, or the loss is acknowledged); health fraud.v1.FraudService/history is NOT_SERVING meanwhile.',
    labelNames: ['store'] as const,
    registers: [this.registry],
  });

  readonly redisOutOfMemory = new Gauge({
    name: 'fraud_state_redis_out_of_memory',
    help: '1 while Redis refuses writes because it is at its maxmemory (scoring calls fail with UNAVAILABLE; the task health services are NOT_SERVING), else 0.',
    registers: [this.registry],
  });

  readonly redisMemory = new Gauge({
    name: 'fraud_state_redis_memory_bytes',
    help: 'Redis memory as of the last check, by node (host:port) and kind: used (used_memory) and max (maxmemory; 0 means no limit).',
    labelNames: ['node', 'kind'] as const,
    registers: [this.registry],
  });

  readonly redisEvictedKeys = new Gauge({
    name: 'fraud_state_redis_evicted_keys',
    help: 'Keys Redis has evicted since it started (INFO stats evicted_keys), by node: any increase is history lost.',
    labelNames: ['node'] as const,
    registers: [this.registry],
  });

  readonly redisEvictionPolicy = new Gauge({
    name: 'fraud_state_redis_eviction_policy',
    help: 'Always 1, for the maxmemory-policy each Redis primary has (policy="unknown" when Redis would not say).',
    labelNames: ['node', 'policy'] as const,
    registers: [this.registry],
  });

  readonly redisEvicting = new Gauge({
    name: 'fraud_state_redis_evicting',
    help: '1 while a Redis primary has a maxmemory-policy that evicts keys (anything but noeviction): accepted with FRAUD_REDIS_ALLOW_EVICTION=true, otherwise the history models\' health services are NOT_SERVING.',
    registers: [this.registry],
  });

  readonly redisPersistence = new Gauge({
    name: 'fraud_state_redis_persistence',
    help: 'By node and kind (aof, rdb): 1 when Redis persists to disk that way, 0 when not; absent when Redis would not say.',
    labelNames: ['node', 'kind'] as const,
    registers: [this.registry],
  });

  readonly redisUnchecked = new Gauge({
    name: 'fraud_state_redis_unchecked',
    help: 'By node and check: 1 when Redis refused to say (managed services forbid or rename CONFIG), so that setting was not checked.',
    labelNames: ['node', 'check'] as const,
    registers: [this.registry],
  });

  readonly redisLastCheck = new Gauge({
    name: 'fraud_state_redis_last_check_timestamp_seconds',
    help: 'When the last complete check of Redis (eviction policy, memory, persistence, generation marker) ended (Unix time).',
    registers: [this.registry],
  });

  // The embedded store's eviction segments and snapshot integrity (docs/history.md, "The embedded store: floods, snapshots and sizing").
  readonly stateEntityEvictions = new Counter({
    name: 'fraud_state_entity_evictions_total',
    help:
      'Customers and terminals evicted for the entity limit, by kind and segment: probation (fewer than 3 transactions in their history: a flood of one-off ids shows here) ' +
      'or established (cards with a history: non-zero means the limit is too small for the traffic).',
    labelNames: ['kind', 'segment'] as const,
    registers: [this.registry],
  });

  readonly stateSnapshotRestores = new Counter({
    name: 'fraud_state_snapshot_restores_total',
    help: 'Snapshot restores at start, by result: restored (the shutdown snapshot: nothing lost), restored_partial (an interval snapshot: the previous process stopped uncleanly and what it recorded after it is lost), none (no file yet), unreadable (set aside; the history started empty).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly stateSnapshotUnreadable = new Gauge({
    name: 'fraud_state_snapshot_unreadable',
    help: '1 when this process found its snapshot unreadable and started with an empty history (the file is kept aside as <path>.unreadable-<time>), else 0.',
    registers: [this.registry],
  });

  readonly stateSnapshotQualityRestores = new Counter({
    name: 'fraud_state_snapshot_quality_restores_total',
    help: 'Live quality of the embedded store restored at start from its snapshot, by result: restored, none (no snapshot, or one written before snapshots held live quality), unreadable (its part of the snapshot, or the whole snapshot, could not be read: live quality started empty).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly stateSnapshotQualityUnreadable = new Gauge({
    name: 'fraud_state_snapshot_quality_unreadable',
    help: '1 when this process found the live quality in its snapshot unreadable and started with empty live quality (GetModelQuality counts only what it applied since), else 0.',
    registers: [this.registry],
  });

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

  /**
   * Gauges read from the store when Prometheus scrapes: entities, remembered
   * transactions, bytes and watermark. Registered once the store exists.
   */
  observeState(stats: () => StateStatsView): void {
    const registers = [this.registry];
    // One scrape reads four gauges; walking the store once is enough.
    let cached: ReturnType<typeof stats> | undefined;
    let cachedAt = 0;
    const read = (): ReturnType<typeof stats> => {
      if (cached === undefined || Date.now() - cachedAt > 1_000) {
        cached = stats();
        cachedAt = Date.now();
      }
      return cached;
    };
    new Gauge({
      name: 'fraud_state_entities',
      help: 'Customers and terminals whose history the state store keeps, by kind.',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        const stats = read();
        this.labels('customer').set(stats.customers);
        this.labels('terminal').set(stats.terminals);
      },
    });
    new Gauge({
      name: 'fraud_state_transactions',
      help: 'Recorded transactions remembered so that outcomes can find them.',
      registers,
      collect() {
        this.set(read().transactions);
      },
    });
    new Gauge({
      name: 'fraud_state_bytes',
      help: 'Approximate bytes of history the embedded store holds, by kind (customer, terminal, transaction: what is remembered of each recorded transaction for outcomes).',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        const { bytes } = read();
        this.labels('customer').set(bytes.customer);
        this.labels('terminal').set(bytes.terminal);
        this.labels('transaction').set(bytes.transaction);
      },
    });
    new Gauge({
      name: 'fraud_state_entity_segments',
      help: 'Customers plus terminals the embedded store keeps, by eviction segment (probation: fewer than 3 transactions in their history, evicted first; established).',
      labelNames: ['segment'] as const,
      registers,
      collect() {
        const { segments } = read();
        if (segments === undefined) return;
        this.labels('probation').set(segments.probation);
        this.labels('established').set(segments.established);
      },
    });
    this.observeWatermark(() => read().watermark);
  }

  /**
   * Gauges of the Redis store, read when Prometheus scrapes: commands waiting
   * for Redis, and the newest event time this replica recorded (entity counts
   * and bytes are Redis's own to report, e.g. through redis_exporter).
   */
  observeRedisState(stats: () => { pendingCommands: number; watermark: number }): void {
    new Gauge({
      name: 'fraud_state_redis_pending_commands',
      help: 'Commands sent to Redis and not yet answered; new calls fail with UNAVAILABLE beyond a bound, so this stays bounded while Redis is frozen.',
      registers: [this.registry],
      collect() {
        this.set(stats().pendingCommands);
      },
    });
    this.observeWatermark(() => stats().watermark);
  }

  private observeWatermark(watermark: () => number): void {
    new Gauge({
      name: 'fraud_state_watermark_timestamp_seconds',
      help: 'Newest event time recorded (Unix time; with Redis, by this replica); a customer\'s transactions older than its newest minus the lateness are refused.',
      registers: [this.registry],
      collect() {
        const value = watermark();
        this.set(Number.isFinite(value) ? value : 0);
      },
    });
  }
}

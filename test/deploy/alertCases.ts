/**
 * One promtool unit test per alert of deploy/prometheus/fraud-scoring.rules.yaml:
 * series that make the alert's expression true from minute `onset` (bad), and
 * series that must never fire it (good), often right at its threshold. The
 * alert must fire at `onset` plus its `for:`, to the minute, and not a minute
 * earlier (the case states the `for:` it expects, so a changed `for:` fails).
 * Series are sampled every minute from minute 0 to minute SPAN.
 */
export interface Series {
  readonly series: string;
  readonly values: string;
}

export interface AlertCase {
  readonly alert: string;
  /** First minute the expression is true on the bad series. */
  readonly onset: number;
  /** How long the expression must hold before the alert fires: the alert fires at onset + forMinutes. */
  readonly forMinutes: number;
  readonly bad: readonly Series[];
  readonly good: readonly Series[];
  /** The firing alert's labels, without those the rule adds (severity). */
  readonly labels: Readonly<Record<string, string>>;
}

/** Minutes of series in each test. */
export const SPAN = 60;

const TARGET = { namespace: 'fraud', job: 'fraud-fraud-scoring', instance: '10.0.0.7:9464' } as const;
const JOB = { namespace: TARGET.namespace, job: TARGET.job } as const;

function series(name: string, labels: Readonly<Record<string, string>>, values: string): Series {
  const text = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .join(',');
  return { series: `${name}{${text}}`, values };
}

/** `before` up to minute onset - 1, then `after` from minute `onset` to SPAN. */
function step(before: number, after: number, onset: number): string {
  return `${before}x${onset - 1} ${after}x${SPAN - onset}`;
}

/** A counter flat at `from`, then growing by `perMinute` from minute `onset`. */
function growsFrom(onset: number, perMinute: number, from = 0): string {
  return `${from}x${onset - 1} ${from + perMinute}+${perMinute}x${SPAN - onset}`;
}

/** A counter growing by `perMinute` all along. */
function steady(perMinute: number): string {
  return `0+${perMinute}x${SPAN}`;
}

function flat(value: number): string {
  return `${value}x${SPAN}`;
}

const FRAUD = 'fraud.v1.FraudService';
const DAY = 86_400;

export const ALERT_CASES: readonly AlertCase[] = [
  {
    alert: 'FraudScoringTargetDown',
    forMinutes: 5,
    onset: 5,
    bad: [series('up', TARGET, step(1, 0, 5))],
    good: [series('up', TARGET, flat(1)), series('up', { ...TARGET, job: 'another-service' }, flat(0))],
    labels: TARGET,
  },
  {
    alert: 'FraudScoringNotServing',
    forMinutes: 5,
    onset: 5,
    bad: [series('fraud_health_serving', { ...TARGET, service: FRAUD }, step(1, 0, 5))],
    // The history's own name going NOT_SERVING is not readiness.
    good: [series('fraud_health_serving', { ...TARGET, service: FRAUD }, flat(1)), series('fraud_health_serving', { ...TARGET, service: `${FRAUD}/history` }, flat(0))],
    labels: { ...TARGET, service: FRAUD },
  },
  {
    alert: 'FraudScoringTaskNotServing',
    forMinutes: 5,
    onset: 5,
    bad: [series('fraud_health_serving', { ...TARGET, service: `${FRAUD}/binary` }, step(1, 0, 5)), series('fraud_health_serving', { ...TARGET, service: FRAUD }, flat(1))],
    // The history's own name is not a task's; a pod not ready at all pages as FraudScoringNotServing instead.
    good: [
      series('fraud_health_serving', { ...TARGET, service: `${FRAUD}/binary` }, flat(1)),
      series('fraud_health_serving', { ...TARGET, service: `${FRAUD}/history` }, flat(0)),
      series('fraud_health_serving', { ...TARGET, instance: '10.0.0.8:9464', service: `${FRAUD}/multiclass` }, step(1, 0, 5)),
      series('fraud_health_serving', { ...TARGET, instance: '10.0.0.8:9464', service: FRAUD }, step(1, 0, 5)),
    ],
    labels: { ...TARGET, service: `${FRAUD}/binary` },
  },
  {
    alert: 'FraudModelNotServing',
    forMinutes: 5,
    onset: 5,
    bad: [series('fraud_model_serving', { ...TARGET, task: 'binary' }, step(1, 0, 5))],
    good: [series('fraud_model_serving', { ...TARGET, task: 'binary' }, flat(1))],
    labels: { ...TARGET, task: 'binary' },
  },
  {
    alert: 'FraudModelRefused',
    forMinutes: 0,
    onset: 5,
    bad: [series('fraud_model_load_failures_total', { ...TARGET, task: 'binary', reason: 'sha256' }, growsFrom(5, 1))],
    // Refusals long past do not page.
    good: [series('fraud_model_load_failures_total', { ...TARGET, task: 'binary', reason: 'sha256' }, flat(3))],
    labels: { ...TARGET, task: 'binary', reason: 'sha256' },
  },
  {
    alert: 'FraudModelSourceStale',
    forMinutes: 5,
    // Last read at time 0: at minute 15 that is exactly 900 s ago (not over), at 16 it is.
    onset: 16,
    bad: [series('fraud_model_last_check_success_timestamp_seconds', { ...TARGET, task: 'binary' }, flat(0))],
    good: [series('fraud_model_last_check_success_timestamp_seconds', { ...TARGET, task: 'binary' }, '0+60x60')],
    labels: { ...TARGET, task: 'binary' },
  },
  {
    alert: 'FraudModelVersionPending',
    forMinutes: 15,
    onset: 5,
    bad: [series('fraud_model_pending_version', { ...TARGET, task: 'binary' }, step(0, 1, 5))],
    // A file that arrives after 10 minutes.
    good: [series('fraud_model_pending_version', { ...TARGET, task: 'binary' }, `0x4 1x9 0x${SPAN - 15}`)],
    labels: { ...TARGET, task: 'binary' },
  },
  {
    alert: 'FraudHistoryStoreDown',
    forMinutes: 2,
    onset: 5,
    bad: [series('fraud_state_store_up', { ...TARGET, store: 'redis' }, step(1, 0, 5))],
    // A one-minute blip.
    good: [series('fraud_state_store_up', { ...TARGET, store: 'redis' }, `1x4 0 1x${SPAN - 6}`)],
    labels: { ...TARGET, store: 'redis' },
  },
  {
    alert: 'FraudHistoryLost',
    forMinutes: 0,
    onset: 5,
    bad: [series('fraud_state_store_lost_total', { ...TARGET, store: 'redis' }, growsFrom(5, 1))],
    good: [series('fraud_state_store_lost_total', { ...TARGET, store: 'redis' }, flat(0))],
    labels: { ...TARGET, store: 'redis' },
  },
  {
    alert: 'FraudHistoryIncomplete',
    forMinutes: 10,
    onset: 5,
    bad: [series('fraud_state_history_incomplete', { ...TARGET, store: 'redis' }, step(0, 1, 5))],
    good: [series('fraud_state_history_incomplete', { ...TARGET, store: 'redis' }, flat(0))],
    labels: { ...TARGET, store: 'redis' },
  },
  {
    alert: 'FraudHistoryEvicting',
    forMinutes: 5,
    onset: 5,
    bad: [series('fraud_state_redis_evicting', TARGET, step(0, 1, 5))],
    good: [series('fraud_state_redis_evicting', TARGET, flat(0))],
    labels: TARGET,
  },
  {
    alert: 'FraudHistoryKeysEvicted',
    forMinutes: 0,
    onset: 5,
    bad: [series('fraud_state_redis_evicted_keys', { ...TARGET, node: 'redis-0:6379' }, step(0, 3, 5))],
    good: [series('fraud_state_redis_evicted_keys', { ...TARGET, node: 'redis-0:6379' }, flat(12))],
    labels: { ...TARGET, node: 'redis-0:6379' },
  },
  {
    alert: 'FraudHistoryOutOfMemory',
    forMinutes: 1,
    onset: 5,
    bad: [series('fraud_state_redis_out_of_memory', TARGET, step(0, 1, 5))],
    good: [series('fraud_state_redis_out_of_memory', TARGET, flat(0))],
    labels: TARGET,
  },
  {
    alert: 'FraudHistoryEntitiesEvicted',
    forMinutes: 0,
    onset: 5,
    bad: [series('fraud_state_entity_evictions_total', { ...TARGET, kind: 'customer', segment: 'established' }, growsFrom(5, 2))],
    // A flood of one-off ids evicts probation entities only: expected, not paged.
    good: [series('fraud_state_entity_evictions_total', { ...TARGET, kind: 'customer', segment: 'probation' }, steady(100))],
    labels: { ...TARGET, kind: 'customer', segment: 'established' },
  },
  {
    alert: 'FraudHistorySnapshotUnreadable',
    forMinutes: 0,
    onset: 5,
    bad: [series('fraud_state_snapshot_unreadable', TARGET, step(0, 1, 5))],
    good: [series('fraud_state_snapshot_unreadable', TARGET, flat(0))],
    labels: TARGET,
  },
  {
    alert: 'FraudHistorySnapshotsFailing',
    forMinutes: 0,
    onset: 5,
    bad: [series('fraud_state_snapshots_total', { ...TARGET, result: 'error' }, growsFrom(5, 1))],
    good: [series('fraud_state_snapshots_total', { ...TARGET, result: 'ok' }, steady(1)), series('fraud_state_snapshots_total', { ...TARGET, result: 'error' }, flat(0))],
    labels: { ...TARGET, result: 'error' },
  },
  {
    alert: 'FraudAdmissionRefusals',
    forMinutes: 10,
    onset: 5,
    bad: [
      series('fraud_grpc_requests_total', { ...TARGET, method: `${FRAUD}/Predict`, code: 'OK' }, steady(600)),
      series('fraud_admission_refused_total', { ...TARGET, limit: 'process' }, growsFrom(5, 60)),
    ],
    // 0.5 % refused.
    good: [
      series('fraud_grpc_requests_total', { ...TARGET, method: `${FRAUD}/Predict`, code: 'OK' }, steady(600)),
      series('fraud_admission_refused_total', { ...TARGET, limit: 'process' }, steady(3)),
    ],
    labels: JOB,
  },
  {
    alert: 'FraudHighLatency',
    forMinutes: 10,
    onset: 5,
    bad: [
      series('fraud_grpc_request_duration_seconds_bucket', { ...TARGET, method: `${FRAUD}/Predict`, le: '0.025' }, steady(600)),
      series('fraud_grpc_request_duration_seconds_bucket', { ...TARGET, method: `${FRAUD}/Predict`, le: '0.05' }, steady(600)),
      // From minute 5, as many calls again take 50-100 ms.
      series('fraud_grpc_request_duration_seconds_bucket', { ...TARGET, method: `${FRAUD}/Predict`, le: '0.1' }, `0+600x4 3600+1200x${SPAN - 5}`),
      series('fraud_grpc_request_duration_seconds_bucket', { ...TARGET, method: `${FRAUD}/Predict`, le: '+Inf' }, `0+600x4 3600+1200x${SPAN - 5}`),
    ],
    // Fast unary calls; batches are slow by nature and not what this alert watches.
    good: [
      series('fraud_grpc_request_duration_seconds_bucket', { ...TARGET, method: `${FRAUD}/Predict`, le: '0.025' }, steady(600)),
      series('fraud_grpc_request_duration_seconds_bucket', { ...TARGET, method: `${FRAUD}/Predict`, le: '+Inf' }, steady(600)),
      series('fraud_grpc_request_duration_seconds_bucket', { ...TARGET, method: `${FRAUD}/PredictBatch`, le: '0.025' }, flat(0)),
      series('fraud_grpc_request_duration_seconds_bucket', { ...TARGET, method: `${FRAUD}/PredictBatch`, le: '+Inf' }, steady(60)),
    ],
    labels: { ...JOB, method: `${FRAUD}/Predict` },
  },
  {
    alert: 'FraudHighErrorRatio',
    forMinutes: 5,
    onset: 5,
    bad: [
      series('fraud_grpc_requests_total', { ...TARGET, method: `${FRAUD}/Predict`, code: 'OK' }, steady(600)),
      series('fraud_grpc_requests_total', { ...TARGET, method: `${FRAUD}/Predict`, code: 'UNAVAILABLE' }, growsFrom(5, 60)),
    ],
    // The clients' own mistakes are not the service's errors; 0.5 % UNAVAILABLE is under the bar.
    good: [
      series('fraud_grpc_requests_total', { ...TARGET, method: `${FRAUD}/Predict`, code: 'OK' }, steady(600)),
      series('fraud_grpc_requests_total', { ...TARGET, method: `${FRAUD}/Predict`, code: 'INVALID_ARGUMENT' }, steady(120)),
      series('fraud_grpc_requests_total', { ...TARGET, method: `${FRAUD}/Predict`, code: 'UNAVAILABLE' }, steady(3)),
    ],
    labels: JOB,
  },
  {
    alert: 'FraudAuthRefusalsSpike',
    forMinutes: 10,
    onset: 5,
    bad: [series('fraud_auth_refusals_total', { ...TARGET, method: `${FRAUD}/ReportOutcome`, reason: 'unauthenticated' }, growsFrom(5, 600))],
    // Exactly one a second: the bar itself, not over it.
    good: [series('fraud_auth_refusals_total', { ...TARGET, method: `${FRAUD}/ReportOutcome`, reason: 'permission_denied' }, steady(60))],
    labels: { ...JOB, reason: 'unauthenticated' },
  },
  {
    alert: 'FraudTlsCertificateExpiring',
    forMinutes: 10,
    // Expires 14 days and 600 s after time 0: at minute 10 exactly 14 days are left (not under), at 11 less.
    onset: 11,
    bad: [series('fraud_tls_certificate_expiry_timestamp_seconds', { ...TARGET, certificate: 'server' }, flat(14 * DAY + 600))],
    good: [series('fraud_tls_certificate_expiry_timestamp_seconds', { ...TARGET, certificate: 'server' }, flat(30 * DAY))],
    labels: { ...TARGET, certificate: 'server' },
  },
  {
    alert: 'FraudTlsCertificateExpiringSoon',
    forMinutes: 10,
    onset: 11,
    bad: [series('fraud_tls_certificate_expiry_timestamp_seconds', { ...TARGET, certificate: 'server' }, flat(2 * DAY + 600))],
    good: [series('fraud_tls_certificate_expiry_timestamp_seconds', { ...TARGET, certificate: 'server' }, flat(13 * DAY))],
    labels: { ...TARGET, certificate: 'server' },
  },
  {
    alert: 'FraudDecisionLogDropping',
    forMinutes: 0,
    onset: 5,
    bad: [series('fraud_decision_log_records_dropped_total', { ...TARGET, sink: 'kafka', reason: 'buffer_full' }, growsFrom(5, 1))],
    good: [series('fraud_decision_log_records_dropped_total', { ...TARGET, sink: 'kafka', reason: 'buffer_full' }, flat(7))],
    labels: { ...JOB, sink: 'kafka', reason: 'buffer_full' },
  },
];

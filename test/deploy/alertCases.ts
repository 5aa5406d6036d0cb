/**
 * One promtool unit test (or more) per alert of deploy/prometheus/fraud-scoring.rules.yaml:
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
  /**
   * Minutes between samples and between rule evaluations (1 unless stated): the
   * days-long cases use 15 or 30 (a multiple of their `for:`), or promtool would
   * evaluate every rule every minute of 8 days. onset and forMinutes are multiples of it.
   */
  readonly step?: number;
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

/**
 * A counter from 0, sampled every `step` minutes, whose increase into minute k
 * is `perMinute` a minute of the first segment with k <= its `until` (sampled
 * to the last segment's `until`; every `until` a multiple of `step`): the
 * days-long series of the model-quality alerts, whose windows are 1 hour to 8 days.
 */
function segments(step: number, ...parts: readonly (readonly [until: number, perMinute: number])[]): string {
  let value = 0;
  let minute = 0;
  return parts
    .map(([until, perMinute], index) => {
      const perSample = perMinute * step;
      const samples = (until - minute) / step;
      const text = index === 0 ? `0+${perSample}x${samples}` : `${value + perSample}+${perSample}x${samples - 1}`;
      value += perSample * samples;
      minute = until;
      return text;
    })
    .join(' ');
}

const FRAUD = 'fraud.v1.FraudService';
const DAY = 86_400;
/** Sampling of the recall case (its for: is 30 minutes) and its last minute. */
const RECALL_STEP = 30;
const RECALL_END = 12_300;
/** Sampling of the alert-rate case (its for: is 15 minutes) and its last minute. */
const RATE_STEP = 15;
const RATE_END = 10_500;
const BINARY_MODEL = { task: 'binary', model: 'fraud-binary' } as const;

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
  },  {
    alert: 'FraudQualityScoresNotKept',
    forMinutes: 0,
    onset: 5,
    bad: [series('fraud_quality_scores_not_kept_total', { ...TARGET, reason: 'queue_full' }, growsFrom(5, 1))],
    // Normal or designed (late or unrecorded transactions, a swap's fifth revision), the caller's (a reused id),
    // a pod's stop; and losses long past.
    good: [
      series('fraud_quality_scores_not_kept_total', { ...TARGET, reason: 'unknown_transaction' }, steady(100)),
      series('fraud_quality_scores_not_kept_total', { ...TARGET, reason: 'too_many_models' }, steady(2)),
      series('fraud_quality_scores_not_kept_total', { ...TARGET, reason: 'reused_id' }, steady(1)),
      series('fraud_quality_scores_not_kept_total', { ...TARGET, reason: 'shutdown' }, growsFrom(5, 50)),
      series('fraud_quality_scores_not_kept_total', { ...TARGET, reason: 'store_unavailable' }, flat(40)),
    ],
    labels: { ...JOB, reason: 'queue_full' },
  },
  {
    alert: 'FraudQualityUpdatesDropped',
    forMinutes: 0,
    onset: 5,
    bad: [series('fraud_quality_updates_dropped_total', { ...TARGET, reason: 'unavailable' }, growsFrom(5, 10))],
    // Outcomes older than the retention are not counted by design.
    good: [
      series('fraud_quality_updates_dropped_total', { ...TARGET, reason: 'outside_retention' }, steady(100)),
      series('fraud_quality_updates_dropped_total', { ...TARGET, reason: 'overloaded' }, flat(3)),
      series('fraud_quality_updates_dropped_total', { ...TARGET, reason: 'error' }, flat(0)),
    ],
    labels: { ...JOB, reason: 'unavailable' },
  },
  {
    alert: 'FraudQualitySnapshotUnreadable',
    forMinutes: 0,
    onset: 5,
    bad: [series('fraud_state_snapshot_quality_unreadable', TARGET, step(0, 1, 5))],
    good: [series('fraud_state_snapshot_quality_unreadable', TARGET, flat(0))],
    labels: TARGET,
  },
  {
    alert: 'FraudShadowModelNotLoaded',
    forMinutes: 15,
    onset: 5,
    bad: [series('fraud_shadow_model_loaded', { ...TARGET, task: 'binary' }, step(1, 0, 5))],
    // A shadow that loads 10 minutes after the start (its watcher waits for the serving models).
    good: [series('fraud_shadow_model_loaded', { ...TARGET, task: 'binary' }, `0x9 1x${SPAN - 10}`)],
    labels: { ...TARGET, task: 'binary' },
  },
  {
    alert: 'FraudShadowModelRefused',
    forMinutes: 0,
    onset: 5,
    bad: [series('fraud_shadow_model_load_failures_total', { ...TARGET, task: 'binary', reason: 'classes' }, growsFrom(5, 1))],
    good: [series('fraud_shadow_model_load_failures_total', { ...TARGET, task: 'binary', reason: 'classes' }, flat(2))],
    labels: { ...TARGET, task: 'binary', reason: 'classes' },
  },
  {
    alert: 'FraudShadowRowsShed',
    forMinutes: 15,
    // 80 rows a minute scored; from minute 35, 200 a minute shed as well: over the 30-minute
    // window (29 one-minute increases) the shed share passes 20 % at the third minute (600 of 2920).
    onset: 37,
    bad: [
      series('fraud_shadow_predictions_total', { ...TARGET, ...BINARY_MODEL, version: '2', class: 'simple_transaction' }, steady(80)),
      series('fraud_shadow_rows_shed_total', { ...TARGET, task: 'binary', reason: 'saturated' }, growsFrom(35, 200, 1000)),
    ],
    // 19 % shed, all along.
    good: [
      series('fraud_shadow_predictions_total', { ...TARGET, ...BINARY_MODEL, version: '2', class: 'simple_transaction' }, steady(81)),
      series('fraud_shadow_rows_shed_total', { ...TARGET, task: 'binary', reason: 'max_rows' }, steady(19)),
    ],
    labels: { ...JOB, task: 'binary' },
  },
  {
    alert: 'FraudModelRecallDrop',
    forMinutes: 30,
    step: RECALL_STEP,
    // Ten frauds a minute, eight alerted (recall 0.8) for eight days; from minute 11610, four.
    // The day's recall (47 half-hour increases: the window is open at its start) is under
    // 0.64 once 19 of them are at 4: (28 x 8 + 19 x 4) / (47 x 10) = 0.638; 18: 0.655.
    onset: 11_610 + 19 * RECALL_STEP,
    bad: [
      series('fraud_quality_outcomes_total', { ...TARGET, ...BINARY_MODEL, version: '7', outcome: 'fraud', decision: 'alerted' }, segments(RECALL_STEP, [11_610, 8], [RECALL_END, 4])),
      series('fraud_quality_outcomes_total', { ...TARGET, ...BINARY_MODEL, version: '7', outcome: 'fraud', decision: 'passed' }, segments(RECALL_STEP, [11_610, 2], [RECALL_END, 6])),
      series('fraud_model_info', { ...TARGET, task: 'binary', name: 'fraud-binary', version: '7', revision: 'c0ffee' }, `1x${RECALL_END / RECALL_STEP}`),
    ],
    // Version 8: a drop to 0.7 (under 20 %). Version 9: a challenger (no fraud_model_info) whose recall halves.
    // Version 10: a crash on fewer than 100 frauds a day (0.05 a minute).
    good: [
      ...[
        ['8', 8, 2, 7, 3],
        ['9', 8, 2, 4, 6],
      ].flatMap(([version, alerted, passed, alertedAfter, passedAfter]) => [
        series('fraud_quality_outcomes_total', { ...TARGET, ...BINARY_MODEL, version: String(version), outcome: 'fraud', decision: 'alerted' }, segments(RECALL_STEP, [11_610, Number(alerted)], [RECALL_END, Number(alertedAfter)])),
        series('fraud_quality_outcomes_total', { ...TARGET, ...BINARY_MODEL, version: String(version), outcome: 'fraud', decision: 'passed' }, segments(RECALL_STEP, [11_610, Number(passed)], [RECALL_END, Number(passedAfter)])),
      ]),
      series('fraud_quality_outcomes_total', { ...TARGET, ...BINARY_MODEL, version: '10', outcome: 'fraud', decision: 'alerted' }, segments(RECALL_STEP, [11_610, 0.04], [RECALL_END, 0])),
      series('fraud_quality_outcomes_total', { ...TARGET, ...BINARY_MODEL, version: '10', outcome: 'fraud', decision: 'passed' }, segments(RECALL_STEP, [11_610, 0.01], [RECALL_END, 0.05])),
      ...['8', '10'].map((version) => series('fraud_model_info', { ...TARGET, task: 'binary', name: 'fraud-binary', version, revision: 'c0ffee' }, `1x${RECALL_END / RECALL_STEP}`)),
    ],
    labels: { ...JOB, ...BINARY_MODEL, version: '7' },
  },
  {
    alert: 'FraudModelAlertRateShift',
    forMinutes: 15,
    step: RATE_STEP,
    // 1,000 binary transactions a minute, 10 alerted (1 %) for a week and more; from minute 10200
    // none (a model that stops alerting). The hour's share (3 quarter-hour increases: the window
    // is open at its start) is under half the week's once 2 of them have no alert (0.33 %; 1: 0.67 %).
    onset: 10_200 + 2 * RATE_STEP,
    bad: [
      series('fraud_predictions_total', { ...TARGET, ...BINARY_MODEL, version: '7', class: 'FRAUD' }, segments(RATE_STEP, [10_200, 10], [RATE_END, 0])),
      series('fraud_predictions_total', { ...TARGET, ...BINARY_MODEL, version: '7', class: 'simple_transaction' }, segments(RATE_STEP, [10_200, 990], [RATE_END, 1000])),
    ],
    // Binary: the share rises to 1.9 times the week's. Scenario: its alerts stop, but the week's share
    // predicts 30 in an hour, fewer than 50 (40 transactions a minute, one alerted every two).
    good: [
      series('fraud_predictions_total', { ...TARGET, ...BINARY_MODEL, version: '7', class: 'FRAUD' }, segments(RATE_STEP, [10_200, 10], [RATE_END, 19])),
      series('fraud_predictions_total', { ...TARGET, ...BINARY_MODEL, version: '7', class: 'simple_transaction' }, segments(RATE_STEP, [10_200, 990], [RATE_END, 981])),
      series('fraud_predictions_total', { ...TARGET, task: 'multiclass', model: 'fraud-scenario', version: '3', class: 'scenario_1' }, segments(RATE_STEP, [10_200, 0.5], [RATE_END, 0])),
      series('fraud_predictions_total', { ...TARGET, task: 'multiclass', model: 'fraud-scenario', version: '3', class: 'simple_transaction' }, segments(RATE_STEP, [10_200, 39.5], [RATE_END, 40])),
    ],
    labels: { ...JOB, task: 'binary' },
  },  {
    alert: 'FraudModelAlertRateShift',
    forMinutes: 15,
    step: RATE_STEP,
    // The other side: from minute 10200, 30 of the 1,000 alerted (3 %); the hour's share passes
    // twice the week's once 2 of its 3 increases are at 3 % (2.33 %; 1: 1.67 %).
    onset: 10_200 + 2 * RATE_STEP,
    bad: [
      series('fraud_predictions_total', { ...TARGET, ...BINARY_MODEL, version: '8', class: 'FRAUD' }, segments(RATE_STEP, [10_200, 10], [RATE_END, 30])),
      series('fraud_predictions_total', { ...TARGET, ...BINARY_MODEL, version: '8', class: 'simple_transaction' }, segments(RATE_STEP, [10_200, 990], [RATE_END, 970])),
    ],
    // Half the week's share exactly is not under half.
    good: [
      series('fraud_predictions_total', { ...TARGET, ...BINARY_MODEL, version: '8', class: 'FRAUD' }, segments(RATE_STEP, [10_200, 10], [RATE_END, 5])),
      series('fraud_predictions_total', { ...TARGET, ...BINARY_MODEL, version: '8', class: 'simple_transaction' }, segments(RATE_STEP, [10_200, 990], [RATE_END, 995])),
    ],
    labels: { ...JOB, task: 'binary' },
  },
];

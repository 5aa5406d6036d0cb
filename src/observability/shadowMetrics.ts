import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ScoreHistogram } from './scoreHistogram.js';

/** Why shadow rows were not scored (the `reason` label of fraud_shadow_rows_shed_total). */
export type ShedReason = 'max_rows' | 'saturated' | 'late' | 'classes' | 'failed';

/**
 * The shadow models' metrics: the serving models' names with `fraud_shadow_`
 * in place of `fraud_` and the same labels, so a dashboard shows champion
 * and challenger side by side by swapping the prefix; and what is shed.
 * Separate series, not a `role` label on the serving ones, so existing
 * alerts and dashboards on fraud_model_* and fraud_predictions_total keep
 * meaning the serving models alone.
 */
export class ShadowMetrics {
  readonly modelLoads: Counter<'task'>;
  readonly modelLoadFailures: Counter<'task' | 'reason'>;
  readonly modelSourceErrors: Counter<'task' | 'reason'>;
  readonly modelPending: Gauge<'task'>;
  readonly modelLastCheckTime: Gauge<'task'>;
  readonly modelLoaded: Gauge<'task'>;
  readonly modelInfo: Gauge<'task' | 'name' | 'version' | 'revision' | 'source'>;
  readonly predictions: Counter<'task' | 'model' | 'version' | 'class'>;
  readonly predictionScores: ScoreHistogram;
  readonly inferenceDuration: Histogram<'task'>;
  readonly rowsShed: Counter<'task' | 'reason'>;
  readonly rowsInFlight: Gauge;

  /** Shadow rows between their admission and the end of their run; read at scrape time. */
  rowsInFlightSource: () => number = () => 0;

  /** `latencyBuckets`: the serving models' inference buckets (metrics.ts), so both histograms compare bucket by bucket. */
  constructor(registry: Registry, latencyBuckets: readonly number[]) {
    const registers = [registry];
    this.modelLoads = new Counter({
      name: 'fraud_shadow_model_loads_total',
      help: 'Shadow model versions loaded and put into the shadow of the serving model, by task.',
      labelNames: ['task'] as const,
      registers,
    });
    this.modelLoadFailures = new Counter({
      name: 'fraud_shadow_model_load_failures_total',
      help: 'Shadow model versions refused or that failed to load, by task and reason (classes: not the serving model\'s classes); the previous shadow keeps shadowing.',
      labelNames: ['task', 'reason'] as const,
      registers,
    });
    this.modelSourceErrors = new Counter({
      name: 'fraud_shadow_model_source_errors_total',
      help: 'Failed checks of a shadow model source (store unreachable, access denied, not found), by task.',
      labelNames: ['task', 'reason'] as const,
      registers,
    });
    this.modelPending = new Gauge({
      name: 'fraud_shadow_model_pending_version',
      help: '1 while a new shadow manifest waits for its .onnx to arrive, by task.',
      labelNames: ['task'] as const,
      registers,
    });
    this.modelLastCheckTime = new Gauge({
      name: 'fraud_shadow_model_last_check_success_timestamp_seconds',
      help: 'Last successful check of each task\'s shadow model source (Unix time).',
      labelNames: ['task'] as const,
      registers,
    });
    this.modelLoaded = new Gauge({
      name: 'fraud_shadow_model_loaded',
      help: '1 when a shadow model is loaded for the task, 0 when one is configured but none is loaded (never affects readiness).',
      labelNames: ['task'] as const,
      registers,
    });
    this.modelInfo = new Gauge({
      name: 'fraud_shadow_model_info',
      help: 'Always 1, for the shadow model version of each task; labels say which (source only with FRAUD_MODEL_INFO_DETAILS=true).',
      labelNames: ['task', 'name', 'version', 'revision', 'source'] as const,
      registers,
    });
    this.predictions = new Counter({
      name: 'fraud_shadow_predictions_total',
      help: 'Transactions scored by a shadow model, by task, model name, model version and the class it would have answered.',
      labelNames: ['task', 'model', 'version', 'class'] as const,
      registers,
    });
    this.predictionScores = new ScoreHistogram(
      registry,
      'fraud_shadow_prediction_score',
      'Fraud probability a shadow model gave each transaction it scored, by task and model version (compare with fraud_prediction_score).',
    );
    this.inferenceDuration = new Histogram({
      name: 'fraud_shadow_model_inference_duration_seconds',
      help: 'Time of each shadow model run (after the answer was sent), by task.',
      labelNames: ['task'] as const,
      buckets: [...latencyBuckets],
      registers,
    });
    this.rowsShed = new Counter({
      name: 'fraud_shadow_rows_shed_total',
      help:
        'Transactions the shadow model did not score, by task and reason: max_rows (FRAUD_SHADOW_MAX_ROWS_IN_FLIGHT reached), saturated (the service\'s own admission or batch lane is loaded), ' +
        'late (too late for the history a shadow with history features reads), classes (the serving model now has other classes), failed (the shadow run failed). Their calls are recorded with the serving run only.',
      labelNames: ['task', 'reason'] as const,
      registers,
    });
    this.rowsInFlight = new Gauge({
      name: 'fraud_shadow_rows_in_flight',
      help: 'Transactions admitted for a shadow run and not yet scored by it (at most FRAUD_SHADOW_MAX_ROWS_IN_FLIGHT).',
      registers,
      collect: () => {
        this.rowsInFlight.set(this.rowsInFlightSource());
      },
    });
  }
}

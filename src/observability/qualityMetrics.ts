import { Counter, Histogram, type Registry } from 'prom-client';
import type { ModelTask } from '../models/modelTask.js';
import { coarseBounds } from '../quality/scoreBins.js';

/** Outcome delays: from an hour (card holders calling in) to the 90 days of chargebacks. */
const DELAY_BUCKETS_SECONDS = [3_600, 6 * 3_600, 86_400, 2 * 86_400, 3 * 86_400, 7 * 86_400, 14 * 86_400, 30 * 86_400, 60 * 86_400, 90 * 86_400];

/**
 * The Prometheus side of live quality, on the service's registry: what this
 * replica received (counters sum across replicas). Counters cannot go down,
 * so a correction is counted apart; the outcome in force is
 * outcomes{outcome=o} + corrections{to=o} - corrections{from=o}, and
 * GetModelQuality answers it directly.
 */
export class QualityMetrics {
  readonly outcomes: Counter<'task' | 'model' | 'version' | 'outcome' | 'decision'>;
  readonly corrections: Counter<'task' | 'model' | 'version' | 'decision' | 'from' | 'to'>;
  readonly scores: Histogram<'task' | 'model' | 'version' | 'outcome'>;
  readonly delays: Histogram<'task' | 'model' | 'version'>;
  readonly unscored: Counter<'status'>;
  readonly dropped: Counter<'reason'>;
  readonly revisionsDropped: Counter<'task'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.outcomes = new Counter({
      name: 'fraud_quality_outcomes_total',
      help:
        'Outcomes applied and joined to the score a model revision gave the transaction, by task, model, version, outcome (fraud, legitimate) and the model\'s decision (alerted, passed); ' +
        'one per transaction and model that scored it (serving and shadow). Corrections are in fraud_quality_corrections_total.',
      labelNames: ['task', 'model', 'version', 'outcome', 'decision'] as const,
      registers,
    });
    this.corrections = new Counter({
      name: 'fraud_quality_corrections_total',
      help: 'Joined outcomes corrected, by task, model, version, the model\'s decision, and the outcome replaced (from) and in force (to).',
      labelNames: ['task', 'model', 'version', 'decision', 'from', 'to'] as const,
      registers,
    });
    this.scores = new Histogram({
      name: 'fraud_quality_score',
      help: 'Fraud probability a model revision gave transactions whose outcome was applied, by task, model, version and outcome (buckets: every sixth bound of GetModelQuality\'s bins).',
      labelNames: ['task', 'model', 'version', 'outcome'] as const,
      buckets: coarseBounds(),
      registers,
    });
    this.delays = new Histogram({
      name: 'fraud_quality_outcome_delay_seconds',
      help: 'Seconds from a transaction\'s event time to its outcome\'s known_at, for outcomes applied and joined to scores, by task, model and version of each model that scored the transaction.',
      labelNames: ['task', 'model', 'version'] as const,
      buckets: DELAY_BUCKETS_SECONDS,
      registers,
    });
    this.unscored = new Counter({
      name: 'fraud_quality_unscored_outcomes_total',
      help: 'Outcomes applied or corrected that joined no score (kept before scores were kept, or dropped by the score keeper), by status: not in live quality.',
      labelNames: ['status'] as const,
      registers,
    });
    this.dropped = new Counter({
      name: 'fraud_quality_updates_dropped_total',
      help:
        'Scores (one per transaction and model revision) whose outcome live quality did not count, by reason: outside_retention (event day older than FRAUD_QUALITY_RETENTION_DAYS behind the newest), ' +
        'unavailable / error (Redis did not take the write), overloaded (too many writes waiting for Redis).',
      labelNames: ['reason'] as const,
      registers,
    });
    this.revisionsDropped = new Counter({
      name: 'fraud_quality_revisions_dropped_total',
      help: 'Model revisions live quality forgot, with their counts, because their task had too many (the least recently updated go first).',
      labelNames: ['task'] as const,
      registers,
    });
  }

  /** Every series of the drop counters exists from the start, so an alert sees a rate of 0. */
  initialise(tasks: readonly ModelTask[]): void {
    for (const reason of ['outside_retention', 'unavailable', 'overloaded', 'error']) this.dropped.labels(reason).inc(0);
    for (const task of tasks) this.revisionsDropped.labels(task).inc(0);
  }
}

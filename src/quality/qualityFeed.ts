import type { QualityMetrics } from '../observability/qualityMetrics.js';
import type { OutcomeStatus } from '../state/stateStore.js';
import type { QualityLedger, QualityUpdate } from './qualityLedger.js';

/**
 * Where applied and corrected outcomes with joined scores go once the state
 * store has answered: the Prometheus counters of this replica at once, the
 * ledger in the background. Neither can delay or fail the ReportOutcome
 * call: the ledger never rejects, and the call does not wait for it.
 */
export class QualityFeed {
  /** Ledger writes not finished yet: the shutdown lets them end before the store's connection closes. */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    readonly ledger: QualityLedger,
    private readonly metrics: QualityMetrics,
  ) {}

  /** Counts the updates; resolves when the ledger has (tests wait on it, the service does not). */
  take(updates: readonly QualityUpdate[]): Promise<void> {
    if (updates.length === 0) return Promise.resolve();
    const { metrics } = this;
    for (const update of updates) {
      for (const { model, fraudProbability, alerted } of update.joined.scores) {
        const decision = alerted ? 'alerted' : 'passed';
        if (update.replaced === undefined) {
          metrics.outcomes.labels(model.task, model.name, model.version, update.outcome, decision).inc();
          metrics.scores.labels(model.task, model.name, model.version, update.outcome).observe(fraudProbability);
          metrics.delays.labels(model.task, model.name, model.version).observe(Math.max(0, update.knownAt - update.joined.eventTime));
        } else {
          metrics.corrections.labels(model.task, model.name, model.version, decision, update.replaced.outcome, update.outcome).inc();
        }
      }
    }
    const written = this.ledger.record(updates).finally(() => {
      this.inFlight.delete(written);
    });
    this.inFlight.add(written);
    return written;
  }

  /** Resolves once the writes started so far have ended (each is bounded by the store's timeouts). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  /** An applied or corrected outcome that joined no score. */
  unscored(status: OutcomeStatus): void {
    this.metrics.unscored.labels(status).inc();
  }
}

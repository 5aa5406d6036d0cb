import type { ModelRegistry } from '../models/modelRegistry.js';
import { MODEL_TASKS, type ModelTask } from '../models/modelTask.js';
import { ServingStatus, type ServingHealth } from './servingHealth.js';
import type { HistoryCondition } from '../state/stateStore.js';

/** A store with nothing to report (the embedded store without snapshots). */
const FINE: HistoryCondition = { writable: true, trusted: true, complete: true };

/** The health name of one task's scoring (Predict… for binary, PredictScenario… for multiclass). */
export function taskServiceName(service: string, task: ModelTask): string {
  return `${service}/${task}`;
}

/** The health name that is NOT_SERVING while the history is known incomplete. */
export function historyServiceName(service: string): string {
  return `${service}/history`;
}

/**
 * Health names below the service's own, for what readiness must not say:
 * the store is shared by every replica, so taking them all out of the load
 * balancer for its trouble would turn a clear UNAVAILABLE into connection
 * errors (docs/operations.md, "Health"). Operators alert on these instead.
 *
 * - `<service>/<task>`: SERVING while the task's model is loaded and can
 *   score: the store takes writes, and, for a model that reads history, the
 *   store is trusted to keep it.
 * - `<service>/history` (only with a store): NOT_SERVING while the history is
 *   known incomplete after a loss.
 */
export class HistoryHealth {
  constructor(
    private readonly health: ServingHealth,
    private readonly registry: ModelRegistry,
    private readonly service: string,
    private readonly hasStore: boolean,
    private readonly condition: () => HistoryCondition = () => FINE,
  ) {}

  /** The names this class sets, all NOT_SERVING, for the health service's initial statuses. */
  names(): string[] {
    const names = MODEL_TASKS.map((task) => taskServiceName(this.service, task));
    if (this.hasStore) names.push(historyServiceName(this.service));
    return names;
  }

  /** Sets every name from `ready` (models loaded, store answered, not stopping) and the store's condition. */
  update(ready: boolean): void {
    const condition = this.condition();
    for (const { task, model } of this.registry.status()) {
      const serving = ready && model !== undefined && condition.writable && (condition.trusted || !model.features.needsHistory);
      this.health.setStatus(taskServiceName(this.service, task), serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    }
    if (this.hasStore) {
      this.health.setStatus(historyServiceName(this.service), ready && condition.complete ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    }
  }
}

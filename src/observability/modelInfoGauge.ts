import type { Gauge } from 'prom-client';
import type { TaskStatus } from '../models/modelRegistry.js';

/**
 * Sets a model info gauge (fraud_model_info, fraud_shadow_model_info) to 1
 * for the version each task holds now, and drops the series of versions it
 * no longer holds. The store URL is a label only where GetModelInfo shows it
 * too (FRAUD_MODEL_INFO_DETAILS).
 */
export function setModelInfo(gauge: Gauge<'task' | 'name' | 'version' | 'revision' | 'source'>, statuses: readonly TaskStatus[], showSources: boolean): void {
  gauge.reset();
  for (const status of statuses) {
    if (status.model === undefined) continue;
    const { name, version, revision } = status.model.identity;
    gauge.labels(status.task, name, version, revision, showSources ? status.source : '').set(1);
  }
}

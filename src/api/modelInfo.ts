import { ModelTask as ApiModelTask, type ModelInfo } from '../gen/fraud/v1/fraud_service.js';
import type { TaskStatus } from '../models/modelRegistry.js';
import type { ModelTask } from '../models/modelTask.js';

const API_TASKS: Readonly<Record<ModelTask, ApiModelTask>> = {
  binary: ApiModelTask.MODEL_TASK_BINARY,
  multiclass: ApiModelTask.MODEL_TASK_MULTICLASS,
};

/** What GetModelInfo says instead of the raw error text when details are off. */
export const REDACTED_ERROR = 'the last check or load of this model failed; the service log has the details';

/**
 * One task's entry of GetModelInfo. Any caller may ask, so the internal
 * store URL and the raw error text (endpoints, bucket and key names, store
 * messages) are shown only with `details` (FRAUD_MODEL_INFO_DETAILS, on for
 * local development); without, `source` is empty and `last_error` says only
 * that something failed, and when (the log has the rest).
 */
export function modelInfoOf(status: TaskStatus, details: boolean): ModelInfo {
  const { model } = status;
  const lastError = status.lastError === undefined ? '' : details ? status.lastError.message : REDACTED_ERROR;
  return {
    task: API_TASKS[status.task],
    serving: model !== undefined,
    model: model?.identity,
    features: model ? [...model.features.names] : [],
    classes: model ? model.classes.map(({ id, label }) => ({ id, label })) : [],
    threshold: model?.threshold,
    inputElementType: model?.elementType ?? '',
    source: details ? status.source : '',
    sha256: model?.manifest.sha256 ?? '',
    createdAt: model?.createdAt,
    loadedAt: model?.loadedAt,
    lastCheckedAt: status.lastCheckedAt,
    lastError,
    lastErrorAt: status.lastError?.at,
  };
}

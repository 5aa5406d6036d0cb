import {
  ModelTask as ApiModelTask,
  type GetModelQualityRequest,
  type GetModelQualityResponse,
  type ModelQuality,
} from '../gen/fraud/v1/fraud_service.js';
import type { ModelTask } from '../models/modelTask.js';
import { addCounts, emptyCounts, figuresOf } from '../quality/qualityFigures.js';
import { dayOf, SECONDS_PER_DAY, type QualityLedger, type RevisionDays } from '../quality/qualityLedger.js';
import { SCORE_BIN_UPPER_BOUNDS } from '../quality/scoreBins.js';
import { FailedPreconditionError, InvalidArgumentError, type FieldViolation } from './apiErrors.js';

/** The longest window served, whatever the retention. */
export const MAX_WINDOW_DAYS = 90;
/** Windows per request: each is a sum over its days for every revision. */
export const MAX_WINDOWS = 8;
/** Revisions named per request. */
export const MAX_REVISIONS = 32;
/** Longest revision named (ModelRef.revision: a commit id, an ETag, a sha256). */
const MAX_REVISION_CHARACTERS = 256;
/** Windows without any in the request: the last day and the last week. */
const DEFAULT_WINDOW_DAYS = [1, 7];

const TASKS: Readonly<Record<ModelTask, ApiModelTask>> = {
  binary: ApiModelTask.MODEL_TASK_BINARY,
  multiclass: ApiModelTask.MODEL_TASK_MULTICLASS,
};
const TASK_OF: ReadonlyMap<ApiModelTask, ModelTask | undefined> = new Map([
  [ApiModelTask.MODEL_TASK_UNSPECIFIED, undefined],
  [ApiModelTask.MODEL_TASK_BINARY, 'binary'],
  [ApiModelTask.MODEL_TASK_MULTICLASS, 'multiclass'],
]);

export interface ModelQualityOptions {
  /** Undefined without a state store: then every call is refused with `unavailable`. */
  readonly ledger: QualityLedger | undefined;
  readonly unavailable: string;
  /** FRAUD_QUALITY_RETENTION_DAYS: windows longer than it would sum days no longer kept. */
  readonly retentionDays: number;
}

interface ValidRequest {
  readonly task: ModelTask | undefined;
  readonly revisions: readonly string[];
  /** Window lengths in days, ascending. */
  readonly windows: readonly number[];
  readonly endDay: number | undefined;
}

/**
 * GetModelQuality: each matching revision's counts over windows of whole
 * event days ending with the same day, and the figures derived from them
 * (fraud_service.proto, ModelQuality).
 */
export async function getModelQuality(request: GetModelQualityRequest, options: ModelQualityOptions): Promise<GetModelQualityResponse> {
  const { ledger } = options;
  if (ledger === undefined) throw new FailedPreconditionError(options.unavailable);
  const valid = validate(request, Math.min(MAX_WINDOW_DAYS, options.retentionDays));
  const answer: GetModelQualityResponse = { models: [], scoreBinUpperBounds: [...SCORE_BIN_UPPER_BOUNDS] };
  const endDay = valid.endDay ?? (await ledger.newestDay(valid.task, valid.revisions));
  if (endDay === undefined) return answer;
  const longest = valid.windows.at(-1) ?? 1;
  const revisions = await ledger.read({ task: valid.task, revisions: valid.revisions, firstDay: endDay - longest + 1, lastDay: endDay });
  revisions.sort(byIdentity);
  for (const revision of revisions) for (const days of valid.windows) answer.models.push(qualityOf(revision, days, endDay));
  return answer;
}

function validate(request: GetModelQualityRequest, maxWindowDays: number): ValidRequest {
  const violations: FieldViolation[] = [];
  const add = (field: string, description: string): void => {
    violations.push({ field, description });
  };
  if (!TASK_OF.has(request.task)) add('task', `must be MODEL_TASK_UNSPECIFIED, MODEL_TASK_BINARY or MODEL_TASK_MULTICLASS, got ${String(request.task)}`);
  if (request.revisions.length > MAX_REVISIONS) add('revisions', `at most ${MAX_REVISIONS} revisions per request, got ${request.revisions.length}`);
  else {
    request.revisions.forEach((revision, index) => {
      if (revision === '') add(`revisions[${index}]`, 'must not be empty');
      else if (revision.length > MAX_REVISION_CHARACTERS) add(`revisions[${index}]`, `must be at most ${MAX_REVISION_CHARACTERS} characters, got ${revision.length}`);
    });
  }
  const windows: number[] = [];
  if (request.windows.length > MAX_WINDOWS) add('windows', `at most ${MAX_WINDOWS} windows per request, got ${request.windows.length}`);
  else {
    const seen = new Map<number, number>();
    request.windows.forEach(({ seconds, nanos }, index) => {
      const field = `windows[${index}]`;
      if (nanos !== 0 || seconds % BigInt(SECONDS_PER_DAY) !== 0n) {
        add(field, `must be a whole number of days (a multiple of 86400 s), got ${seconds} s and ${nanos} ns`);
        return;
      }
      const days = Number(seconds / BigInt(SECONDS_PER_DAY));
      if (days <= 0) add(field, `must be at least 1 day, got ${days}`);
      else if (days > maxWindowDays) add(field, `must be at most ${maxWindowDays} days (the days kept: FRAUD_QUALITY_RETENTION_DAYS, at most ${MAX_WINDOW_DAYS}), got ${days}`);
      else if (seen.has(days)) add(field, `repeats windows[${seen.get(days) ?? 0}] (${days} days)`);
      else {
        seen.set(days, index);
        windows.push(days);
      }
    });
  }
  let endDay: number | undefined;
  if (request.endTime !== undefined) {
    const time = request.endTime.getTime();
    if (!Number.isFinite(time)) add('end_time', 'is not a valid timestamp');
    else endDay = dayOf(time / 1000);
  }
  if (violations.length > 0) throw new InvalidArgumentError(violations);
  return {
    task: TASK_OF.get(request.task),
    revisions: request.revisions,
    windows: windows.length === 0 ? DEFAULT_WINDOW_DAYS.filter((days) => days <= maxWindowDays) : windows.sort((a, b) => a - b),
    endDay,
  };
}

function qualityOf(revision: RevisionDays, windowDays: number, endDay: number): ModelQuality {
  const firstDay = endDay - windowDays + 1;
  const counts = emptyCounts();
  for (const [day, dayCounts] of revision.days) if (day >= firstDay && day <= endDay) addCounts(counts, dayCounts);
  const figures = figuresOf(counts);
  const { model } = revision;
  return {
    task: TASKS[model.task],
    name: model.name,
    version: model.version,
    revision: model.revision,
    window: { seconds: BigInt(windowDays * SECONDS_PER_DAY), nanos: 0 },
    startTime: new Date(firstDay * SECONDS_PER_DAY * 1000),
    endTime: new Date((endDay + 1) * SECONDS_PER_DAY * 1000),
    fraudAlerted: whole(counts.fraudAlerted),
    fraudPassed: whole(counts.fraudPassed),
    legitimateAlerted: whole(counts.legitimateAlerted),
    legitimatePassed: whole(counts.legitimatePassed),
    fraudScoreBins: counts.fraudBins.map(whole),
    legitimateScoreBins: counts.legitimateBins.map(whole),
    auc: figures.auc,
    averagePrecision: figures.averagePrecision,
    recall: figures.recall,
    precision: figures.precision,
    alertRate: figures.alertRate,
    fraudRate: figures.fraudRate,
    meanOutcomeDelaySeconds: figures.meanOutcomeDelaySeconds,
  };
}

/** A count as uint64: never negative (a correction that reached a replica before the outcome it replaces shows as 0, not a wrapped number). */
function whole(count: number): bigint {
  return BigInt(Math.max(0, Math.round(count)));
}

function byIdentity(a: RevisionDays, b: RevisionDays): number {
  return (
    TASKS[a.model.task] - TASKS[b.model.task] ||
    compare(a.model.name, b.model.name) ||
    compare(a.model.version, b.model.version) ||
    compare(a.model.revision, b.model.revision)
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

import { ModelTask, type ModelQuality } from '../src/gen/fraud/v1/fraud_service.js';
import type { FraudClient } from './fraudClient.js';
import { evaluateGate, type GateOptions, type GateResult } from './qualityGate.js';
import { compareQuality, countsOf, type QualityComparison, type QualityCounts, type StatisticsOptions } from './qualityStatistics.js';

/**
 * Champion against challenger from the service's live quality: which
 * revisions (the serving and the shadow model of a task, unless named), their
 * `GetModelQuality` entries over one window of event days, the statistics
 * and the gate.
 */

export type CliTask = 'binary' | 'scenario';

export interface ComparisonRequest {
  readonly task: CliTask;
  /** Revisions to compare; the serving model's and the shadow model's when absent. */
  readonly champion?: string;
  readonly challenger?: string;
  /** Window length in whole days (1 to 90). */
  readonly windowDays: number;
  readonly statistics: Required<StatisticsOptions>;
  readonly gate: GateOptions;
}

/** One side of the comparison: the revision and what the service said of it. */
export interface ComparedModel {
  readonly revision: string;
  readonly name: string;
  readonly version: string;
  /** Event days of its window ([start, end)); undefined when the service has no outcome for it. */
  readonly startTime: Date | undefined;
  readonly endTime: Date | undefined;
}

export interface ModelComparison {
  readonly request: ComparisonRequest;
  readonly champion: ComparedModel;
  readonly challenger: ComparedModel;
  /** Both windows cover the same event days. */
  readonly sameDays: boolean;
  /** What a reader should know about the fairness of the comparison. */
  readonly notes: readonly string[];
  readonly quality: QualityComparison;
  readonly gate: GateResult;
}

/** The comparison cannot be made (no challenger, unknown revision, malformed answer); exit code 1. */
export class ComparisonError extends Error {}

const DAY_SECONDS = 86_400;
const EMPTY: QualityCounts = { fraudBins: [], legitimateBins: [], fraudAlerted: 0, fraudPassed: 0, legitimateAlerted: 0, legitimatePassed: 0 };

export function modelTaskOf(task: CliTask): ModelTask {
  return task === 'binary' ? ModelTask.MODEL_TASK_BINARY : ModelTask.MODEL_TASK_MULTICLASS;
}

/** The revisions to compare: as given, or the task's serving (champion) and shadow (challenger) model. */
async function revisionsOf(client: Pick<FraudClient, 'getModelInfo'>, request: ComparisonRequest): Promise<{ champion: string; challenger: string }> {
  if (request.champion !== undefined && request.challenger !== undefined) return { champion: request.champion, challenger: request.challenger };
  const info = await client.getModelInfo();
  const task = modelTaskOf(request.task);
  const serving = info.models.find((model) => model.task === task && model.serving)?.model?.revision;
  const shadow = info.shadows.find((model) => model.task === task && model.serving)?.model?.revision;
  const champion = request.champion ?? serving;
  const challenger = request.challenger ?? shadow;
  if (champion === undefined) throw new ComparisonError(`no ${request.task} model is serving, so there is no champion; give --champion REVISION`);
  if (challenger === undefined) {
    throw new ComparisonError(`the service has no ${request.task} shadow model loaded, so there is no challenger; configure one (FRAUD_${request.task.toUpperCase()}_SHADOW_MODEL_URI) or give --challenger REVISION`);
  }
  return { champion, challenger };
}

function entryOf(models: readonly ModelQuality[], task: ModelTask, revision: string, windowDays: number): ModelQuality | undefined {
  return models.find((model) => model.task === task && model.revision === revision && Number(model.window?.seconds ?? 0n) === windowDays * DAY_SECONDS);
}

function describe(revision: string, entry: ModelQuality | undefined): ComparedModel {
  return { revision, name: entry?.name ?? '?', version: entry?.version ?? '?', startTime: entry?.startTime, endTime: entry?.endTime };
}

function countsChecked(entry: ModelQuality | undefined, bounds: readonly number[]): QualityCounts {
  if (entry === undefined) return EMPTY;
  const counts = countsOf(entry);
  if (counts.fraudBins.length !== bounds.length) {
    throw new ComparisonError(`the service answered ${counts.fraudBins.length} score bins for revision ${entry.revision} but ${bounds.length} bin bounds`);
  }
  return counts;
}

/**
 * Where the service's own AUC or AP of a revision is not what its bins give
 * here: the figures printed are computed from the bins, and a reader should
 * know that the service (its metrics, its RPC) says otherwise.
 */
function disagreements(role: string, entry: ModelQuality, auc: number, averagePrecision: number): string[] {
  const differs = (reported: number, computed: number): boolean => Number.isNaN(reported) !== Number.isNaN(computed) || Math.abs(reported - computed) > 1e-6;
  const out: string[] = [];
  if (differs(entry.auc, auc)) out.push(`the service reports AUC ${entry.auc} for the ${role}; its score bins give ${auc}, the figure used here`);
  if (differs(entry.averagePrecision, averagePrecision)) {
    out.push(`the service reports average precision ${entry.averagePrecision} for the ${role}; its score bins give ${averagePrecision}, the figure used here`);
  }
  return out;
}

/** The UTC day of an event time, e.g. 2026-12-06. */
export function eventDay(time: Date | undefined): string {
  return time?.toISOString().slice(0, 10) ?? '?';
}

/**
 * Fetches both revisions' quality over the same window and compares them.
 * Without an end time the service ends each window on the newest event day
 * with an outcome; when the two revisions' newest days differ, both are asked
 * again ending on the earlier one, so they rest on the same event days.
 */
export async function compareModels(client: Pick<FraudClient, 'getModelInfo' | 'getModelQuality'>, request: ComparisonRequest): Promise<ModelComparison> {
  const { champion, challenger } = await revisionsOf(client, request);
  if (champion === challenger) throw new ComparisonError(`champion and challenger are the same revision (${champion}): nothing to compare`);
  const task = modelTaskOf(request.task);
  const ask = (endTime: Date | undefined): ReturnType<FraudClient['getModelQuality']> =>
    client.getModelQuality({ task, revisions: [champion, challenger], windows: [{ seconds: BigInt(request.windowDays * DAY_SECONDS), nanos: 0 }], endTime });
  let answer = await ask(undefined);
  let championEntry = entryOf(answer.models, task, champion, request.windowDays);
  let challengerEntry = entryOf(answer.models, task, challenger, request.windowDays);
  const ends = [championEntry?.endTime, challengerEntry?.endTime];
  if (ends[0] !== undefined && ends[1] !== undefined && ends[0].getTime() !== ends[1].getTime()) {
    // A time within the earlier window's last day: its end is exclusive.
    answer = await ask(new Date(Math.min(ends[0].getTime(), ends[1].getTime()) - 1));
    championEntry = entryOf(answer.models, task, champion, request.windowDays);
    challengerEntry = entryOf(answer.models, task, challenger, request.windowDays);
  }
  const bounds = answer.scoreBinUpperBounds;
  const championCounts = countsChecked(championEntry, bounds);
  const challengerCounts = countsChecked(challengerEntry, bounds);
  const quality = compareQuality(championCounts, challengerCounts, request.statistics);
  const notes: string[] = [];
  const failures: string[] = [];
  for (const [role, entry, revision] of [['champion', championEntry, champion], ['challenger', challengerEntry, challenger]] as const) {
    if (entry === undefined) notes.push(`the service has no outcome joined to a score of the ${role} (${revision}) in the last ${request.windowDays} days`);
  }
  const sameDays =
    championEntry !== undefined &&
    challengerEntry !== undefined &&
    championEntry.startTime?.getTime() === challengerEntry.startTime?.getTime() &&
    championEntry.endTime?.getTime() === challengerEntry.endTime?.getTime();
  if (championEntry !== undefined && challengerEntry !== undefined && !sameDays) {
    const span = (entry: ModelQuality): string => `${eventDay(entry.startTime)} to ${eventDay(new Date((entry.endTime?.getTime() ?? 0) - 1))}`;
    failures.push(`the two revisions' windows cover different event days: champion ${span(championEntry)}, challenger ${span(challengerEntry)}`);
  }
  for (const [role, entry, summary] of [['champion', championEntry, quality.champion], ['challenger', challengerEntry, quality.challenger]] as const) {
    if (entry !== undefined) notes.push(...disagreements(role, entry, summary.metrics.auc.value, summary.metrics.averagePrecision.value));
  }
  if (quality.champion.transactions !== quality.challenger.transactions && championEntry !== undefined && challengerEntry !== undefined) {
    notes.push(
      `the champion's figures rest on ${quality.champion.transactions} transactions, the challenger's on ${quality.challenger.transactions}: ` +
        'they were not scored on the same transactions (a shadow model started within the window, or was shed under load); ' +
        'a shorter --window keeps to the days both scored',
    );
  }
  const gate = evaluateGate(quality, request.gate);
  return {
    request,
    champion: describe(champion, championEntry),
    challenger: describe(challenger, challengerEntry),
    sameDays,
    notes,
    quality,
    gate: { passed: gate.passed && failures.length === 0, failures: [...failures, ...gate.failures] },
  };
}

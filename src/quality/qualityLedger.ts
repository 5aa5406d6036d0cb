import type { ModelTask } from '../models/modelTask.js';
import type { JoinedScores, ScoredModel } from '../state/modelScores.js';
import type { OutcomeKind } from '../state/stateStore.js';
import { emptyCounts, type QualityCounts } from './qualityFigures.js';
import { binOf } from './scoreBins.js';

/**
 * Live quality per model revision and event day: the contract both ledgers
 * (in process, Redis) fulfil. Fed with every outcome the state store applied
 * or corrected and joined to the scores kept with its transaction; read by
 * GetModelQuality.
 */

export const SECONDS_PER_DAY = 86_400;

/** One applied or corrected outcome with the scores it joined. */
export interface QualityUpdate {
  readonly outcome: OutcomeKind;
  /** When the outcome became known, Unix seconds. */
  readonly knownAt: number;
  /** A correction: the outcome it replaced, and when that one had become known. */
  readonly replaced?: { readonly outcome: OutcomeKind; readonly knownAt: number };
  readonly joined: JoinedScores;
}

/** Why scores were not counted, for fraud_quality_updates_dropped_total{reason}. */
export type DropReason = 'outside_retention' | 'unavailable' | 'overloaded' | 'error';

export interface LedgerEvents {
  /** Scores (one per transaction and revision) not counted. */
  readonly dropped: (reason: DropReason, scores: number) => void;
  /** A revision forgotten because its task has too many (the least recently updated goes). */
  readonly revisionDropped: (task: ModelTask) => void;
}

export interface LedgerLimits {
  /** Event days kept behind the newest day seen, that day included (FRAUD_QUALITY_RETENTION_DAYS). */
  readonly retentionDays: number;
  /** Revisions kept per task. */
  readonly maxRevisionsPerTask: number;
}

/** Revisions a task keeps: champions, challengers and a history of both. */
export const MAX_REVISIONS_PER_TASK = 32;

export interface QualityQuery {
  /** Only this task; undefined: every task. */
  readonly task: ModelTask | undefined;
  /** Only these revisions (ScoredModel.revision); empty: all. */
  readonly revisions: readonly string[];
  /** Event days, inclusive. */
  readonly firstDay: number;
  readonly lastDay: number;
}

/** One revision's counts by event day. */
export interface RevisionDays {
  readonly model: ScoredModel;
  readonly days: ReadonlyMap<number, QualityCounts>;
}

export interface QualityLedger {
  readonly kind: 'memory' | 'redis';
  /** `global`: every replica's outcomes (Redis); `process`: this process's (with the embedded store's snapshots, its predecessors' too: restored with the history). */
  readonly scope: 'global' | 'process';
  /** Counts the updates; never rejects (what it cannot count goes to `LedgerEvents.dropped`). */
  record(updates: readonly QualityUpdate[]): Promise<void>;
  /** The newest event day with a count among the matching revisions, within retention. */
  newestDay(task: ModelTask | undefined, revisions: readonly string[]): Promise<number | undefined>;
  /** The matching revisions' counts by day within [firstDay, lastDay] and retention. */
  read(query: QualityQuery): Promise<RevisionDays[]>;
  close(): Promise<void>;
}

export function dayOf(eventTime: number): number {
  return Math.floor(eventTime / SECONDS_PER_DAY);
}

/** The one identity of a revision, as a map key. */
export function revisionKey(model: ScoredModel): string {
  return JSON.stringify([model.task, model.name, model.version, model.revision]);
}

export function matches(model: ScoredModel, task: ModelTask | undefined, revisions: readonly string[]): boolean {
  return (task === undefined || model.task === task) && (revisions.length === 0 || revisions.includes(model.revision));
}

/**
 * Field names of one (revision, day)'s counts, as the Redis hash keeps them:
 * fa/fp/la/lp the outcome x decision counts, f<bin>/l<bin> the histograms,
 * dms the delay sum in milliseconds (integers add exactly), dn its count.
 */
const COUNT_CODES = { fraudAlerted: 'fa', fraudPassed: 'fp', legitimateAlerted: 'la', legitimatePassed: 'lp' } as const;

function countCode(outcome: OutcomeKind, alerted: boolean): string {
  if (outcome === 'fraud') return alerted ? COUNT_CODES.fraudAlerted : COUNT_CODES.fraudPassed;
  return alerted ? COUNT_CODES.legitimateAlerted : COUNT_CODES.legitimatePassed;
}

function binCode(outcome: OutcomeKind, bin: number): string {
  return `${outcome === 'fraud' ? 'f' : 'l'}${bin}`;
}

function delayMs(knownAt: number, eventTime: number): number {
  return Math.max(0, Math.round((knownAt - eventTime) * 1000));
}

/** What a set of updates changes in one revision's day: field → increment. */
export interface DayDelta {
  readonly model: ScoredModel;
  readonly day: number;
  readonly fields: Map<string, number>;
  /** Scores it counts (for what is dropped when it cannot be). */
  scores: number;
}

/**
 * The increments of `updates`, one entry per (revision, day). An applied
 * outcome adds each score under it; a correction moves each score from the
 * replaced outcome to the new one (counts and bins), and its delay from the
 * replaced outcome's known_at to the new one's, so the counts always hold
 * the outcome in force.
 */
export function deltasOf(updates: readonly QualityUpdate[]): DayDelta[] {
  const byKey = new Map<string, DayDelta>();
  const add = (delta: DayDelta, field: string, by: number): void => {
    if (by !== 0) delta.fields.set(field, (delta.fields.get(field) ?? 0) + by);
  };
  for (const update of updates) {
    const { eventTime, scores } = update.joined;
    const day = dayOf(eventTime);
    for (const score of scores) {
      const key = `${revisionKey(score.model)}/${day}`;
      let delta = byKey.get(key);
      if (delta === undefined) {
        delta = { model: score.model, day, fields: new Map(), scores: 0 };
        byKey.set(key, delta);
      }
      delta.scores++;
      const bin = binOf(score.fraudProbability);
      add(delta, countCode(update.outcome, score.alerted), 1);
      add(delta, binCode(update.outcome, bin), 1);
      add(delta, 'dms', delayMs(update.knownAt, eventTime));
      const { replaced } = update;
      if (replaced === undefined) {
        add(delta, 'dn', 1);
      } else {
        add(delta, countCode(replaced.outcome, score.alerted), -1);
        add(delta, binCode(replaced.outcome, bin), -1);
        add(delta, 'dms', -delayMs(replaced.knownAt, eventTime));
      }
    }
  }
  // A correction and its reversal in one batch cancel out: nothing to write.
  for (const delta of byKey.values()) for (const [field, by] of delta.fields) if (by === 0) delta.fields.delete(field);
  return [...byKey.values()];
}

/** Adds field increments (deltasOf, or a Redis hash read back) to counts. */
export function applyFields(counts: QualityCounts, fields: Iterable<readonly [string, number]>): void {
  for (const [field, by] of fields) {
    switch (field) {
      case 'fa':
        counts.fraudAlerted += by;
        break;
      case 'fp':
        counts.fraudPassed += by;
        break;
      case 'la':
        counts.legitimateAlerted += by;
        break;
      case 'lp':
        counts.legitimatePassed += by;
        break;
      case 'dms':
        counts.delaySeconds += by / 1000;
        break;
      case 'dn':
        counts.delayCount += by;
        break;
      default: {
        const bins = field.startsWith('f') ? counts.fraudBins : field.startsWith('l') ? counts.legitimateBins : undefined;
        const bin = Number(field.slice(1));
        // A field this version does not know (another layout of bins) is skipped rather than misread.
        if (bins !== undefined && Number.isInteger(bin) && bin >= 0 && bin < bins.length) bins[bin] = (bins[bin] as number) + by;
      }
    }
  }
}

export function countsOf(fields: Iterable<readonly [string, number]>): QualityCounts {
  const counts = emptyCounts();
  applyFields(counts, fields);
  return counts;
}

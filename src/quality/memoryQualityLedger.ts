import type { ModelTask } from '../models/modelTask.js';
import type { ScoredModel } from '../state/modelScores.js';
import { emptyCounts, type QualityCounts } from './qualityFigures.js';
import {
  applyFields,
  deltasOf,
  matches,
  revisionKey,
  type LedgerEvents,
  type LedgerLimits,
  type QualityLedger,
  type QualityQuery,
  type QualityUpdate,
  type RevisionDays,
} from './qualityLedger.js';

interface Revision {
  readonly model: ScoredModel;
  /** Order of the last update (a sequence, not a clock): the least recent is dropped first. */
  updated: number;
  readonly days: Map<number, QualityCounts>;
}

/** What a memory ledger holds, for a snapshot: the revisions with their days, the newest day, the order of updates. */
export interface LedgerContent {
  /** The newest event day seen (-Infinity before the first). */
  readonly newest: number;
  /** The last update's place in the order of updates. */
  readonly sequence: number;
  readonly revisions: readonly { readonly model: ScoredModel; readonly updated: number; readonly days: ReadonlyMap<number, QualityCounts> }[];
}

/**
 * Live quality in this process, beside the embedded state store: counts
 * from the outcomes this process applied, and with snapshots
 * (FRAUD_STATE_SNAPSHOT_PATH) those its predecessors applied: the content is
 * written with each snapshot of the store and restored with it
 * (src/quality/qualitySnapshot.ts). Without snapshots it starts empty, like
 * the history. Bounded: event days within the retention behind the newest
 * day seen, and a number of revisions per task.
 */
export class MemoryQualityLedger implements QualityLedger {
  readonly kind = 'memory';
  readonly scope = 'process';
  private readonly revisions = new Map<string, Revision>();
  private newest = Number.NEGATIVE_INFINITY;
  private sequence = 0;

  constructor(
    private readonly limits: LedgerLimits,
    private readonly events: LedgerEvents,
  ) {}

  record(updates: readonly QualityUpdate[]): Promise<void> {
    for (const delta of deltasOf(updates)) {
      if (delta.day > this.newest) this.advance(delta.day);
      if (delta.day <= this.newest - this.limits.retentionDays) {
        this.events.dropped('outside_retention', delta.scores);
        continue;
      }
      const revision = this.revisionOf(delta.model);
      revision.updated = ++this.sequence;
      let counts = revision.days.get(delta.day);
      if (counts === undefined) {
        counts = emptyCounts();
        revision.days.set(delta.day, counts);
      }
      applyFields(counts, delta.fields);
    }
    return Promise.resolve();
  }

  newestDay(task: ModelTask | undefined, revisions: readonly string[]): Promise<number | undefined> {
    let newest: number | undefined;
    for (const revision of this.revisions.values()) {
      if (!matches(revision.model, task, revisions)) continue;
      for (const day of revision.days.keys()) if (newest === undefined || day > newest) newest = day;
    }
    return Promise.resolve(newest);
  }

  read(query: QualityQuery): Promise<RevisionDays[]> {
    const found: RevisionDays[] = [];
    for (const revision of this.revisions.values()) {
      if (!matches(revision.model, query.task, query.revisions)) continue;
      const days = new Map<number, QualityCounts>();
      for (const [day, counts] of revision.days) {
        if (day >= query.firstDay && day <= query.lastDay) days.set(day, structuredClone(counts));
      }
      if (days.size > 0) found.push({ model: revision.model, days });
    }
    return Promise.resolve(found);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** A copy of everything it holds (a snapshot encodes it while outcomes keep coming). */
  content(): LedgerContent {
    const revisions = [...this.revisions.values()].map((revision) => ({ model: revision.model, updated: revision.updated, days: structuredClone(revision.days) }));
    return { newest: this.newest, sequence: this.sequence, revisions };
  }

  /**
   * Replaces what it holds with a snapshot's content, at start before any
   * outcome; days outside this process's retention (FRAUD_QUALITY_RETENTION_DAYS
   * may have changed) go as they would on a newer day.
   */
  restore(content: LedgerContent): void {
    this.revisions.clear();
    for (const revision of content.revisions) {
      this.revisions.set(revisionKey(revision.model), { model: revision.model, updated: revision.updated, days: structuredClone(new Map(revision.days)) });
    }
    this.sequence = content.sequence;
    this.newest = Number.NEGATIVE_INFINITY;
    if (Number.isFinite(content.newest)) this.advance(content.newest);
  }

  /** A newer day: days that fall out of the retention are forgotten, and revisions left without one. */
  private advance(day: number): void {
    this.newest = day;
    const oldestKept = day - this.limits.retentionDays + 1;
    for (const [key, revision] of this.revisions) {
      for (const kept of revision.days.keys()) if (kept < oldestKept) revision.days.delete(kept);
      if (revision.days.size === 0) this.revisions.delete(key);
    }
  }

  private revisionOf(model: ScoredModel): Revision {
    const key = revisionKey(model);
    const known = this.revisions.get(key);
    if (known !== undefined) return known;
    let sameTask = 0;
    let leastRecent: [string, Revision] | undefined;
    for (const entry of this.revisions) {
      if (entry[1].model.task !== model.task) continue;
      sameTask++;
      if (leastRecent === undefined || entry[1].updated < leastRecent[1].updated) leastRecent = entry;
    }
    if (sameTask >= this.limits.maxRevisionsPerTask && leastRecent !== undefined) {
      this.revisions.delete(leastRecent[0]);
      this.events.revisionDropped(model.task);
    }
    const revision: Revision = { model, updated: 0, days: new Map() };
    this.revisions.set(key, revision);
    return revision;
  }
}

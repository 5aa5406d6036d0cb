import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { MODEL_TASKS, type ModelTask } from '../models/modelTask.js';
import type { Logger } from '../observability/logger.js';
import type { ScoredModel } from '../state/modelScores.js';
import { StateUnavailableError } from '../state/stateStore.js';
import type { QualityCounts } from './qualityFigures.js';
import {
  countsOf,
  deltasOf,
  matches,
  revisionKey,
  SECONDS_PER_DAY,
  type DayDelta,
  type DropReason,
  type LedgerEvents,
  type LedgerLimits,
  type QualityLedger,
  type QualityQuery,
  type QualityUpdate,
  type RevisionDays,
} from './qualityLedger.js';

export interface RedisQualityLedgerOptions {
  /** The state store's client (RedisConnection.client): its TLS, Sentinel or Cluster setup applies. */
  readonly client: Redis | Cluster;
  /** FRAUD_REDIS_KEY_PREFIX. */
  readonly keyPrefix: string;
  readonly limits: LedgerLimits;
  readonly events: LedgerEvents;
  readonly logger: Logger;
  /** Wall clock, ms: the order of revisions' last updates across replicas. */
  readonly now?: () => number;
  /** Scores being written beyond which new ones are dropped (counted): a frozen Redis holds work in memory. */
  readonly maxPendingScores?: number;
}

const DEFAULT_MAX_PENDING_SCORES = 100_000;
/** Version of the key layout and bins: another layout writes other keys rather than misreading these. */
const LAYOUT = 'q1';

/**
 * Live quality in Redis, one for every replica. Per (revision, event day)
 * one hash of counts (qualityLedger.ts's fields), incremented with HINCRBY
 * in one MULTI per key and call, so every replica's outcomes add up; per
 * revision a sorted set of its days; per task a hash of its revisions and a
 * sorted set of when each was last updated. A revision's keys share one hash
 * tag, so in a Cluster each MULTI and each read of a revision's days goes to
 * one slot. Keys expire the retention after their last update; days
 * older than the retention behind the newest day are dropped from the index
 * as newer ones come.
 *
 * Nothing here fails a call: a failed write counts its scores in
 * fraud_quality_updates_dropped_total and is logged once per outage (the
 * outcome itself is in the history already); a failed read fails the
 * GetModelQuality call with UNAVAILABLE.
 */
export class RedisQualityLedger implements QualityLedger {
  readonly kind = 'redis';
  readonly scope = 'global';
  private readonly now: () => number;
  private readonly maxPendingScores: number;
  private readonly ttlMs: number;
  private readonly indexed = new Set<string>();
  /** The newest event day this process wrote: retention is measured from it. */
  private newest = Number.NEGATIVE_INFINITY;
  private pendingScores = 0;
  private outageSince: number | undefined;
  private outageDropped = 0;

  constructor(private readonly options: RedisQualityLedgerOptions) {
    this.now = options.now ?? Date.now;
    this.maxPendingScores = options.maxPendingScores ?? DEFAULT_MAX_PENDING_SCORES;
    this.ttlMs = (options.limits.retentionDays + 1) * SECONDS_PER_DAY * 1000;
  }

  async record(updates: readonly QualityUpdate[]): Promise<void> {
    const deltas = deltasOf(updates);
    if (deltas.length === 0) return;
    const { client } = this.options;
    const scores = deltas.reduce((sum, delta) => sum + delta.scores, 0);
    if (client.status !== 'ready') {
      this.failed('unavailable', scores, 'not connected to Redis');
      return;
    }
    if (this.pendingScores + scores > this.maxPendingScores) {
      this.failed('overloaded', scores, `${this.pendingScores} scores already wait for Redis`);
      return;
    }
    this.pendingScores += scores;
    try {
      const touched = new Map<string, ScoredModel>();
      const writes: Promise<void>[] = [];
      for (const delta of deltas) {
        if (delta.day > this.newest) this.newest = delta.day;
        if (delta.day <= this.newest - this.options.limits.retentionDays) {
          this.options.events.dropped('outside_retention', delta.scores);
          continue;
        }
        const id = idOf(delta.model);
        writes.push(this.writeDay(id, delta));
        touched.set(id, delta.model);
      }
      await Promise.all([...writes, ...[...touched].map(([id, model]) => this.index(id, model))]);
    } finally {
      this.pendingScores -= scores;
    }
  }

  async newestDay(task: ModelTask | undefined, revisions: readonly string[]): Promise<number | undefined> {
    const found = await this.reading(async () => {
      const ids = await this.revisions(task, revisions);
      return Promise.all(ids.map(async ([id]) => (await this.options.client.zrange(this.daysKey(id), '-1', '-1'))[0]));
    });
    const days = found.filter((day): day is string => day !== undefined).map(Number);
    return days.length === 0 ? undefined : Math.max(...days);
  }

  read(query: QualityQuery): Promise<RevisionDays[]> {
    return this.reading(async () => {
      const ids = await this.revisions(query.task, query.revisions);
      const found = await Promise.all(ids.map(([id, model]) => this.readRevision(id, model, query.firstDay, query.lastDay)));
      return found.filter((revision) => revision.days.size > 0);
    });
  }

  close(): Promise<void> {
    // The client is the state store's: it closes it.
    return Promise.resolve();
  }

  /** One (revision, day)'s increments, atomically: one MULTI on the day's hash and the revision's day index (one slot). */
  private async writeDay(id: string, delta: DayDelta): Promise<void> {
    const key = this.dayKey(id, delta.day);
    const days = this.daysKey(id);
    const multi = this.options.client.multi();
    for (const [field, by] of delta.fields) multi.hincrby(key, field, by);
    multi.pexpire(key, this.ttlMs);
    multi.zadd(days, delta.day, String(delta.day));
    multi.zremrangebyscore(days, '-inf', `(${this.newest - this.options.limits.retentionDays + 1}`);
    multi.pexpire(days, this.ttlMs);
    try {
      checked(await multi.exec());
      this.recovered();
    } catch (error) {
      this.failed(reasonOf(error), delta.scores, messageOf(error));
    }
  }

  /** Notes the revision and when it was last updated; the first time this process sees it, keeps its task within the bound. */
  private async index(id: string, model: ScoredModel): Promise<void> {
    const multi = this.options.client.multi();
    multi.hset(this.revisionsKey(model.task), id, JSON.stringify(model));
    multi.zadd(this.updatedKey(model.task), this.now(), id);
    multi.pexpire(this.revisionsKey(model.task), this.ttlMs);
    multi.pexpire(this.updatedKey(model.task), this.ttlMs);
    try {
      checked(await multi.exec());
      if (!this.indexed.has(id)) {
        this.indexed.add(id);
        await this.trim(model.task);
      }
    } catch (error) {
      // The counts are written; the index catches up on the revision's next update.
      this.indexed.delete(id);
      this.note(messageOf(error));
    }
  }

  /** Drops the least recently updated revisions of `task` beyond the bound, with their days. */
  private async trim(task: ModelTask): Promise<void> {
    const { client, limits } = this.options;
    const excess = await client.zrange(this.updatedKey(task), '0', String(-(limits.maxRevisionsPerTask + 1)));
    for (const id of excess) {
      const removed = checked(await client.multi().zrem(this.updatedKey(task), id).hdel(this.revisionsKey(task), id).exec());
      // Another replica may be dropping it too: the one whose ZREM removed it counts it.
      if (removed[0] !== 1) continue;
      this.indexed.delete(id);
      this.options.events.revisionDropped(task);
      const days = await client.zrange(this.daysKey(id), '0', '-1');
      await client.del(this.daysKey(id), ...days.map((day) => this.dayKey(id, Number(day))));
    }
  }

  /** The matching revisions of the task (or every task), by id. */
  private async revisions(task: ModelTask | undefined, revisions: readonly string[]): Promise<[string, ScoredModel][]> {
    const tasks = task === undefined ? MODEL_TASKS : [task];
    const listed = await Promise.all(tasks.map((each) => this.options.client.hgetall(this.revisionsKey(each))));
    const found: [string, ScoredModel][] = [];
    for (const entries of listed) {
      for (const [id, json] of Object.entries(entries)) {
        const model = JSON.parse(json) as ScoredModel;
        if (matches(model, task, revisions)) found.push([id, model]);
      }
    }
    return found;
  }

  private async readRevision(id: string, model: ScoredModel, firstDay: number, lastDay: number): Promise<RevisionDays> {
    const { client } = this.options;
    const days = (await client.zrangebyscore(this.daysKey(id), firstDay, lastDay)).map(Number);
    // One slot (the revision's hash tag): one pipeline, even in a Cluster.
    const pipeline = client.pipeline();
    for (const day of days) pipeline.hgetall(this.dayKey(id, day));
    const hashes = days.length === 0 ? [] : checked(await pipeline.exec());
    const counts = new Map<number, QualityCounts>();
    hashes.forEach((hash, index) => {
      const fields = Object.entries(hash as Record<string, string>).map(([field, value]) => [field, Number(value)] as const);
      if (fields.length > 0) counts.set(days[index] as number, countsOf(fields));
    });
    return { model, days: counts };
  }

  private async reading<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw new StateUnavailableError(`live quality could not be read from Redis: ${messageOf(error)}`);
    }
  }

  private failed(reason: DropReason, scores: number, message: string): void {
    this.options.events.dropped(reason, scores);
    this.outageDropped += scores;
    this.note(message);
  }

  /** One line when writes start failing, one when they work again. */
  private note(message: string): void {
    if (this.outageSince !== undefined) return;
    this.outageSince = this.now();
    this.options.logger.warn(
      { component: 'quality', error: message },
      'live quality cannot be written to Redis: outcomes are recorded, but their scores are not counted (fraud_quality_updates_dropped_total)',
    );
  }

  private recovered(): void {
    if (this.outageSince === undefined) return;
    this.options.logger.info({ component: 'quality', outageMs: this.now() - this.outageSince, droppedScores: this.outageDropped }, 'live quality is written to Redis again');
    this.outageSince = undefined;
    this.outageDropped = 0;
  }

  private dayKey(id: string, day: number): string {
    return `${this.options.keyPrefix}{${LAYOUT}:${id}}:${day}`;
  }

  private daysKey(id: string): string {
    return `${this.options.keyPrefix}{${LAYOUT}:${id}}:days`;
  }

  private revisionsKey(task: ModelTask): string {
    return `${this.options.keyPrefix}{${LAYOUT}}:revisions:${task}`;
  }

  private updatedKey(task: ModelTask): string {
    return `${this.options.keyPrefix}{${LAYOUT}}:updated:${task}`;
  }
}

/** A revision's short id in keys: its identity may hold any character, braces included. */
function idOf(model: ScoredModel): string {
  return createHash('sha256').update(revisionKey(model)).digest('hex').slice(0, 24);
}

/** The replies of a MULTI or pipeline; the first error reply (or a discarded transaction) throws. */
function checked(results: [Error | null, unknown][] | null): unknown[] {
  if (results === null) throw new Error('the transaction was discarded');
  return results.map(([error, reply]) => {
    if (error !== null) throw error;
    return reply;
  });
}

function reasonOf(error: unknown): DropReason {
  return error instanceof Error && error.name === 'ReplyError' ? 'error' : 'unavailable';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

import { createHash } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import { MAX_SCORED_MODELS_PER_TRANSACTION, parseScoredModel, scoredModelKey, type ModelScore, type ScoredModel, type ScoresNotKept, type ScoresNotKeptReason, type TransactionScores } from './modelScores.js';
import { decodeKeptScores, scoresArgument, type ReferencedScore } from './redisCodec.js';
import type { RedisConnection, RedisScript } from './redisConnection.js';
import { SCORES_KEEP } from './redisScripts.js';

/**
 * The scores the Redis store keeps with remembered transactions (layout in
 * redisScripts.ts): each under `{x:<id>}:s`, beside its transaction in the
 * same Cluster slot, written by SCORES_KEEP; model revisions by an 8-byte
 * reference, named in the `scored-models` hash. Keeping never fails its
 * caller: what Redis does not take is counted (and an outage logged once).
 */

/** Transactions per round trip, as recording does: no round trip holds Redis (single-threaded) for long. */
const MAX_ITEMS_PER_ROUND_TRIP = 256;

export interface RedisScoresOptions {
  readonly connection: RedisConnection;
  readonly keyPrefix: string;
  readonly logger: Logger;
  readonly onScoresNotKept?: ScoresNotKept;
}

export class RedisScores {
  private readonly script: RedisScript;
  private readonly registryKey: string;
  /** Model key (scoredModelKey) -> reference. */
  private readonly references = new Map<string, Buffer>();
  /** Reference (hex) -> model, for the joins: filled by keeping and by reading the registry. */
  private readonly models = new Map<string, ScoredModel>();
  /** References this process has written to the registry. */
  private readonly registered = new Set<string>();
  private failing = false;
  private readonly log: Logger;

  constructor(private readonly options: RedisScoresOptions) {
    this.script = options.connection.script(SCORES_KEEP);
    this.registryKey = `${options.keyPrefix}scored-models`;
    this.log = options.logger.child({ component: 'redis-scores' });
  }

  /** The reference of a model revision: the first 8 bytes of the SHA-256 of its four fields, the same on every replica. */
  referenceOf(model: ScoredModel): Buffer {
    const key = scoredModelKey(model);
    let reference = this.references.get(key);
    if (reference === undefined) {
      reference = createHash('sha256').update(key).digest().subarray(0, 8);
      this.references.set(key, reference);
      this.models.set(reference.toString('hex'), { task: model.task, name: model.name, version: model.version, revision: model.revision });
    }
    return reference;
  }

  /** Keeps the scores, `indexKey` naming each transaction's key; round trips of at most MAX_ITEMS_PER_ROUND_TRIP, pipelined with the turn's other commands. */
  async keep(items: readonly TransactionScores[], indexKey: (id: bigint) => string): Promise<void> {
    const scored = items.filter((item) => item.scores.length > 0);
    for (let first = 0; first < scored.length; first += MAX_ITEMS_PER_ROUND_TRIP) {
      const chunk = scored.slice(first, first + MAX_ITEMS_PER_ROUND_TRIP);
      try {
        await this.keepRoundTrip(chunk, indexKey);
        if (this.failing) {
          this.failing = false;
          this.log.info('Redis keeps scores again');
        }
      } catch (error) {
        this.count('store_unavailable', chunk.reduce((sum, item) => sum + item.scores.length, 0));
        if (!this.failing) {
          this.failing = true;
          this.log.warn(
            { error: error instanceof Error ? error.message : String(error) },
            'Redis did not take the scores of answered transactions: their outcomes join without them (fraud_quality_scores_not_kept_total{reason="store_unavailable"} counts them); said once until Redis takes them again',
          );
        }
      }
    }
  }

  private async keepRoundTrip(items: readonly TransactionScores[], indexKey: (id: bigint) => string): Promise<void> {
    const unregistered = new Map<string, { reference: Buffer; model: ScoredModel }>();
    const argumentsOf = items.map((item) =>
      scoresArgument(
        item.customerId,
        item.terminalId,
        item.scores.map((score): ReferencedScore => {
          const reference = this.referenceOf(score.model);
          const hex = reference.toString('hex');
          if (!this.registered.has(hex)) unregistered.set(hex, { reference, model: this.models.get(hex) as ScoredModel });
          return { reference, probability: score.fraudProbability, alerted: score.alerted };
        }),
      ),
    );
    const replies = await this.options.connection.roundTrip(unregistered.size + items.length, (batch) => {
      // In the same round trip as the scores (on a Cluster, another node's): marked registered only once
      // Redis answered, so a registration that failed is sent again with the next scores of that model.
      for (const { reference, model } of unregistered.values()) batch.hashSet(this.registryKey, reference, JSON.stringify(model));
      items.forEach((item, index) => {
        const key = indexKey(item.transactionId);
        batch.grouped(this.script, [key, `${key}:s`], [argumentsOf[index] as Buffer, String(MAX_SCORED_MODELS_PER_TRANSACTION)]);
      });
    });
    for (const hex of unregistered.keys()) this.registered.add(hex);
    const notKept = { unknown_transaction: 0, reused_id: 0, too_many_models: 0 };
    items.forEach((item, index) => {
      const reply = replies[unregistered.size + index] as Buffer;
      if (reply[0] === 0x55 /* U */) notKept.unknown_transaction += item.scores.length;
      else if (reply[0] === 0x52 /* R */) notKept.reused_id += item.scores.length;
      else notKept.too_many_models += reply.readUInt32LE(1);
    });
    for (const [reason, count] of Object.entries(notKept) as [keyof typeof notKept, number][]) this.count(reason, count);
  }

  /**
   * The scores kept with transactions, as OUTCOME_RECORD returned them, with
   * their models: read from the registry (one round trip) for references
   * this process has not seen. A score whose model cannot be named is left
   * out and counted.
   */
  async resolve(kept: readonly Buffer[]): Promise<ModelScore[][]> {
    const decoded = kept.map(decodeKeptScores);
    const missing = [...new Set(decoded.flatMap((scores) => scores.map((score) => score.reference.toString('hex'))))].filter((hex) => !this.models.has(hex));
    let unreadable: ScoresNotKeptReason = 'unknown_model';
    if (missing.length > 0) {
      try {
        const [values] = (await this.options.connection.roundTrip(1, (batch) => {
          batch.hashGetMany(
            this.registryKey,
            missing.map((hex) => Buffer.from(hex, 'hex')),
          );
        })) as [(Buffer | null)[]];
        missing.forEach((hex, index) => {
          const value = values[index];
          const model = value === null || value === undefined ? undefined : parseScoredModel(value.toString('utf8'));
          if (model !== undefined) this.models.set(hex, model);
        });
      } catch {
        unreadable = 'store_unavailable';
      }
    }
    let dropped = 0;
    const resolved = decoded.map((scores) =>
      scores.flatMap((score): ModelScore[] => {
        const model = this.models.get(score.reference.toString('hex'));
        if (model !== undefined) return [{ model, fraudProbability: score.probability, alerted: score.alerted }];
        dropped++;
        return [];
      }),
    );
    this.count(unreadable, dropped);
    return resolved;
  }

  private count(reason: ScoresNotKeptReason, scores: number): void {
    if (scores > 0) this.options.onScoresNotKept?.(reason, scores);
  }
}

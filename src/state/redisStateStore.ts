import { dayOf, type TransactionHistory } from '../features/entityHistory.js';
import type { Logger } from '../observability/logger.js';
import { ConflictingRepeatError, conflictingRepeats, type RepeatConflict } from './conflictingRepeats.js';
import { retentionSeconds, type Retention } from './entityRecords.js';
import {
  customerArgument,
  decodeIndexEntry,
  decodeOutcomeReply,
  decodeWatermark,
  indexValue,
  retentionArgument,
  outcomeArgument,
  terminalArgument,
  terminalOutcomeArgument,
} from './redisCodec.js';
import { RedisConnection, type RedisFailureReason, type RedisScript } from './redisConnection.js';
import { outcomeResultOf } from './redisOutcomeResult.js';
import { TerminalRepairs } from './redisRepairs.js';
import { CallSettlement, type CallSettlementOptions, type SettledRoundTrip } from './redisSettlement.js';
import { RedisScores } from './redisScores.js';
import type { JoinedScores, ScoresNotKept, TransactionScores } from './modelScores.js';
import type { RedisSentinelOptions } from './redisClient.js';
import {
  CUSTOMER_RECORD,
  INDEX_FORGET,
  INDEX_WRITE,
  INDEX_WRITE_PLAIN,
  OUTCOME_RECORD,
  TERMINAL_OUTCOME,
  TERMINAL_RECORD,
  TERMINAL_UNCOUNT,
  VALUE_HEAD,
  VALUE_HEAD_PLAIN,
  VALUE_READ,
  VALUE_READ_PLAIN,
} from './redisScripts.js';
import {
  type HistoryConsumer,
  type LateTransaction,
  type OutcomeReport,
  type OutcomeResult,
  type RecordOptions,
  type StateStore,
  type TransactionEvent,
} from './stateStore.js';

export interface RedisStateStoreOptions {
  readonly url: string;
  readonly password: string | undefined;
  readonly timeoutMs: number;
  /** Prefix of every key (FRAUD_REDIS_KEY_PREFIX); must not hold a hash tag. */
  readonly keyPrefix: string;
  /** The URL names one node of a Redis Cluster (FRAUD_REDIS_CLUSTER). */
  readonly cluster?: boolean;
  /** Redis Sentinel names the primary (FRAUD_REDIS_SENTINELS); `url` is not used then. */
  readonly sentinel?: RedisSentinelOptions;
  /** Replicas that must confirm each round trip's writes (FRAUD_REDIS_WAIT_REPLICAS); 0 for none. */
  readonly waitReplicas?: number;
  readonly latenessSeconds: number;
  /** How far ahead of the clock event times may be: keys live this much longer than retention. */
  readonly maxFutureSeconds: number;
  /** Days of history the features read back from a transaction's day, per entity kind. */
  readonly historyDays: { readonly customer: number; readonly terminal: number };
  readonly logger: Logger;
  readonly maxPendingCommands?: number;
  readonly onFailure?: (reason: RedisFailureReason) => void;
  readonly onAvailability?: (available: boolean) => void;
  /**
   * Told of each count taken back at a terminal: for a refused late
   * transaction, or a repeat the terminal's id set had forgotten; and of a
   * repair dropped because too many wait for Redis.
   */
  readonly onRepair?: (event: RepairEvent) => void;
  /** Told of scores keepScores did not keep (or an outcome could not join), and why. */
  readonly onScoresNotKept?: ScoresNotKept;
}

export type RepairEvent = 'late' | 'repeat' | 'dropped';

/**
 * Transactions per round trip: a batch goes in several, in order, so that no
 * round trip holds Redis (single-threaded) for long and each fits the timeout.
 */
const MAX_TRANSACTIONS_PER_ROUND_TRIP = 256;

/**
 * The state store in Redis, for several replicas: the same semantics as
 * MemoryStateStore (models/feature-spec.json, history.rules), with each
 * entity's read-and-update done by a Lua script (redisScripts.ts).
 *
 * Recording a call's transactions is one round trip: per transaction a
 * customer script, a terminal script and a transaction-index SET NX, all
 * pipelined (with the other calls of the same event-loop turn), a batch's
 * calls of each script grouped into few commands (CommandBatch.grouped), and
 * a long batch's round trips pipelined too (CallSettlement). The customer
 * decides lateness and repeats; the terminal counts on its own, because a
 * script can only touch one Cluster slot. When they disagree (the customer
 * refused a late transaction, or the index shows a repeat the terminal's id
 * set had forgotten), the terminal's count is taken back by an idempotent
 * script sent right after, before the call returns, and the views handed to
 * `use` are corrected, so the history equals the embedded store's.
 *
 * Scores kept for live quality (keepScores) live beside each transaction's
 * index entry and join its outcome in the outcome script's reply: see
 * redisScores.ts.
 *
 * Retention: every key expires (TTL refreshed on each write) the retention
 * (longest window + delay + lateness) plus the future margin after its last
 * write, and the scripts drop the days no window can reach.
 */
export class RedisStateStore implements StateStore {
  readonly kind = 'redis';
  readonly connection: RedisConnection;
  private readonly customerRecord: RedisScript;
  private readonly terminalRecord: RedisScript;
  private readonly indexForget: RedisScript;
  private readonly indexWrite: RedisScript;
  private readonly valueRead: RedisScript;
  private readonly valueHead: RedisScript;
  private readonly outcomeRecord: RedisScript;
  private readonly terminalOutcome: RedisScript;
  private readonly scores: RedisScores;
  private readonly prefix: string;
  /** The retention part of the record scripts' argument, per entity kind. */
  private readonly customerRetention: Buffer;
  private readonly terminalRetention: Buffer;
  /** TTL of transaction index entries: as long as terminals keep their days. */
  private readonly terminalTtlMs: string;
  private readonly repairs: TerminalRepairs;
  private readonly settlementOptions: CallSettlementOptions;
  private readonly log: Logger;
  /** Newest event time this replica recorded (Unix seconds), for the watermark gauge. */
  watermark = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: RedisStateStoreOptions) {
    if (/[{}]/.test(options.keyPrefix)) throw new Error('the Redis key prefix must not contain { or }: keys carry their own hash tags');
    this.log = options.logger.child({ component: 'redis-state' });
    this.connection = new RedisConnection({
      url: options.url,
      password: options.password,
      cluster: options.cluster,
      sentinel: options.sentinel,
      waitReplicas: options.waitReplicas,
      timeoutMs: options.timeoutMs,
      logger: options.logger,
      maxPendingCommands: options.maxPendingCommands,
      onFailure: options.onFailure,
      onAvailability: (available) => {
        options.onAvailability?.(available);
        if (available) this.repairs.resume();
      },
    });
    this.customerRecord = this.connection.script(CUSTOMER_RECORD);
    this.terminalRecord = this.connection.script(TERMINAL_RECORD);
    this.repairs = new TerminalRepairs({
      connection: this.connection,
      uncount: this.connection.script(TERMINAL_UNCOUNT),
      terminalKey: (terminalId) => this.terminalKey(terminalId),
      onDropped: options.onRepair === undefined ? undefined : () => options.onRepair?.('dropped'),
      log: this.log,
    });
    this.indexForget = this.connection.script(INDEX_FORGET);
    this.indexWrite = this.connection.script(INDEX_WRITE, INDEX_WRITE_PLAIN);
    this.valueRead = this.connection.script(VALUE_READ, VALUE_READ_PLAIN);
    this.valueHead = this.connection.script(VALUE_HEAD, VALUE_HEAD_PLAIN);
    this.outcomeRecord = this.connection.script(OUTCOME_RECORD);
    this.terminalOutcome = this.connection.script(TERMINAL_OUTCOME);
    this.scores = new RedisScores({ connection: this.connection, keyPrefix: options.keyPrefix, logger: options.logger, onScoresNotKept: options.onScoresNotKept });
    this.prefix = options.keyPrefix;
    const ttlMs = (retention: Retention): number => Math.ceil((retentionSeconds(retention) + options.maxFutureSeconds) * 1000);
    const { latenessSeconds, historyDays } = options;
    const customerTtlMs = ttlMs({ latenessSeconds, days: historyDays.customer });
    const terminalTtlMs = ttlMs({ latenessSeconds, days: historyDays.terminal });
    this.customerRetention = retentionArgument(latenessSeconds, historyDays.customer, customerTtlMs);
    this.terminalRetention = retentionArgument(latenessSeconds, historyDays.terminal, terminalTtlMs);
    this.terminalTtlMs = String(terminalTtlMs);
    this.settlementOptions = { latenessSeconds, indexKey: (id) => this.indexKey(id), onTakeBack: options.onRepair };
  }

  /** Connects in the background; `ready` resolves once Redis has answered. */
  start(): void {
    this.connection.connect();
  }

  get ready(): Promise<void> {
    return this.connection.ready;
  }

  async record(transactions: readonly TransactionEvent[], use: HistoryConsumer, options: RecordOptions): Promise<readonly LateTransaction[]> {
    // All or nothing: a batch's late transactions are found before anything is recorded. Otherwise the
    // customer scripts refuse them one by one, in order, as the embedded store does.
    // So are its conflicting repeats (conflictingRepeats.ts), which refuse any batch as a whole.
    if (transactions.length > 1) {
      const { late, conflicts } = await this.lateInBatch(transactions);
      if (conflicts.length > 0) throw new ConflictingRepeatError(conflicts);
      if (options.allOrNothing && late.length > 0) return late;
    }
    // Round trips in order, each bounded by Redis's silence (RedisConnection.within), and pipelined: the next one
    // is written before the last one's answers are settled, so Redis runs one while this process settles the
    // other. One that fails leaves the earlier ones, and perhaps the next, recorded: the caller's retry of the
    // same call records each transaction once (idempotent by id) and gets the same features (docs/history.md, Operations).
    const settlement = new CallSettlement(this.settlementOptions);
    const chunks: (readonly TransactionEvent[])[] = [];
    for (let first = 0; first < transactions.length; first += MAX_TRANSACTIONS_PER_ROUND_TRIP) {
      chunks.push(transactions.length <= MAX_TRANSACTIONS_PER_ROUND_TRIP ? transactions : transactions.slice(first, first + MAX_TRANSACTIONS_PER_ROUND_TRIP));
    }
    const roundTrips: Promise<SettledRoundTrip['results']>[] = [];
    let settledBefore: Promise<unknown> | undefined;
    const launch = (position: number): void => {
      const roundTrip = this.recordRoundTrip(chunks[position] as readonly TransactionEvent[], settlement, settledBefore);
      settledBefore = roundTrip.settled;
      // Awaited below in its turn; until then a failure of it must not count as unhandled.
      roundTrip.answered.catch(() => undefined);
      roundTrips.push(roundTrip.answered);
    };
    launch(0);
    const late: LateTransaction[] = [];
    for (let position = 0, first = 0; position < chunks.length; first += (chunks[position] as readonly TransactionEvent[]).length, position++) {
      if (position + 1 < chunks.length) {
        // Its own pipeline, written once this one is: answered while this one is settled.
        await this.connection.written();
        launch(position + 1);
      }
      let histories: SettledRoundTrip['results'];
      try {
        histories = await (roundTrips[position] as Promise<SettledRoundTrip['results']>);
      } catch (error) {
        // The call fails with this round trip's failure: counted once, whatever the one after it (in flight) does.
        this.connection.countFailure(error);
        throw error;
      }
      // A single transaction's conflict shows in its round trip: as a repeat, it recorded nothing.
      const conflicts = histories.filter((history): history is RepeatConflict => 'fields' in history);
      if (conflicts.length > 0) throw new ConflictingRepeatError(conflicts.map((conflict) => ({ ...conflict, index: first + conflict.index })));
      for (let index = 0; index < histories.length; index++) {
        const history = histories[index] as TransactionHistory | LateTransaction;
        if ('earliestAccepted' in history) late.push({ index: first + index, earliestAccepted: history.earliestAccepted });
        else use(first + index, history);
      }
    }
    return late;
  }

  /**
   * One pipelined round trip recording up to MAX_TRANSACTIONS_PER_ROUND_TRIP
   * transactions, in order, settled after `before` (the call's round trip
   * before it) whether that one succeeded or not. `answered` is bounded by
   * Redis's silence; `settled` is not: the repairs a late answer calls for
   * still happen when the caller has stopped waiting.
   */
  private recordRoundTrip(
    transactions: readonly TransactionEvent[],
    settlement: CallSettlement,
    before: Promise<unknown> | undefined,
  ): { answered: Promise<SettledRoundTrip['results']>; settled: Promise<unknown> } {
    let answers: Promise<unknown[]>;
    try {
      answers = this.connection.send(transactions.length * 3, (batch) => {
        // Grouped per kind: each script touches only its own entity's keys, and each entity's calls keep their order.
        for (const { id, customerId, terminalId, amount, time } of transactions) {
          const terminal = this.terminalKey(terminalId);
          batch.grouped(this.customerRecord, [this.customerKey(customerId)], [customerArgument(id, time, amount, this.customerRetention)]);
          batch.grouped(this.terminalRecord, [terminal, `${terminal}:ids`], [terminalArgument(id, time, this.terminalRetention)]);
          batch.grouped(this.indexWrite, [this.indexKey(id)], [indexValue(customerId, terminalId, time, amount), this.terminalTtlMs]);
        }
        // Uncounted here: record counts the failure the call fails with (RedisConnection.countFailure).
      }, false);
    } catch (error) {
      // Not sent (Redis unavailable or overloaded): nothing to settle.
      return { answered: Promise.reject(error instanceof Error ? error : new Error(String(error))), settled: Promise.resolve() };
    }
    const settle = (replies: unknown[]): SettledRoundTrip['results'] => this.apply(settlement.settle(transactions, replies as (Buffer | null)[]));
    const settled = before === undefined ? answers.then(settle) : Promise.all([answers, before.catch(() => undefined)]).then(([replies]) => settle(replies));
    settled.catch(() => undefined);
    return { answered: this.connection.within(settled, false), settled };
  }

  /** Sends what a settled round trip calls for (before the call returns, so this replica's next commands come after them). */
  private apply(settled: SettledRoundTrip): SettledRoundTrip['results'] {
    if (settled.newest > this.watermark) this.watermark = settled.newest;
    if (settled.repairs.length > 0) this.repairs.send(settled.repairs);
    if (settled.forgets.length > 0) this.sendForgets(settled.forgets);
    return settled.results;
  }

  /**
   * The late transactions of a batch, by the embedded store's rule: not
   * repeats of recorded ones (the transaction index), and earlier than their
   * customer's newest transaction, the batch's own earlier ones included,
   * minus the lateness. Read in one round trip before anything is recorded.
   */
  private async lateInBatch(transactions: readonly TransactionEvent[]): Promise<{ late: LateTransaction[]; conflicts: RepeatConflict[] }> {
    const customers = [...new Set(transactions.map((event) => event.customerId))];
    const replies = (await this.connection.roundTrip(customers.length + transactions.length, (batch) => {
      for (const customerId of customers) batch.grouped(this.valueHead, [this.customerKey(customerId)], ['8']);
      for (const event of transactions) batch.grouped(this.valueRead, [this.indexKey(event.id)], []);
    })) as (Buffer | null)[];
    const watermarks = new Map<bigint, number>();
    customers.forEach((customerId, position) => watermarks.set(customerId, decodeWatermark(replies[position] as Buffer)));
    const latenessSeconds = this.options.latenessSeconds;
    const conflicts = conflictingRepeats(transactions, (_event, index) => decodeIndexEntry(replies[customers.length + index] ?? null));
    if (conflicts.length > 0) return { late: [], conflicts };
    const late: LateTransaction[] = [];
    for (let index = 0; index < transactions.length; index++) {
      const event = transactions[index] as TransactionEvent;
      const watermark = watermarks.get(event.customerId) ?? Number.NEGATIVE_INFINITY;
      if (event.time >= watermark - latenessSeconds) {
        if (event.time > watermark) watermarks.set(event.customerId, event.time);
        continue;
      }
      const recorded = decodeIndexEntry(replies[customers.length + index] ?? null);
      if (recorded?.customerId === event.customerId && recorded.terminalId === event.terminalId) continue;
      late.push({ index, earliestAccepted: watermark - latenessSeconds });
    }
    return { late, conflicts: [] };
  }

  /** Index entries of refused transactions; one that cannot be removed expires with its TTL (an outcome for it then finds it). */
  private sendForgets(forgets: readonly { key: string; value: Buffer }[]): void {
    const warn = (error: unknown): void => {
      this.log.warn({ error: error instanceof Error ? error.message : String(error) }, 'could not remove the index entry of a refused transaction; it expires with its TTL');
    };
    try {
      this.connection
        .send(forgets.length, (batch) => {
          for (const { key, value } of forgets) batch.grouped(this.indexForget, [key], [value]);
        })
        .catch(warn);
    } catch (error) {
      warn(error);
    }
  }

  /** Keeps scores with their transactions (redisScores.ts); never rejects: what Redis does not take is counted. */
  keepScores(items: readonly TransactionScores[]): Promise<void> {
    return this.scores.keep(items, (id) => this.indexKey(id));
  }

  async reportOutcomes(reports: readonly OutcomeReport[]): Promise<OutcomeResult[]> {
    const replies = await this.connection.roundTrip(reports.length, (batch) => {
      for (const report of reports) {
        const key = this.indexKey(report.transactionId);
        batch.grouped(this.outcomeRecord, [key, `${key}:s`], [outcomeArgument(report.outcome, report.knownAt), report.supersedes === true ? '1' : '0']);
      }
    });
    const results: OutcomeResult[] = [];
    const terminalOutcomes: Buffer[] = [];
    const terminals: string[] = [];
    // Applied and corrected outcomes: where their result is, its event time and the scores the script returned.
    const joins: { index: number; eventTime: number; kept: Buffer }[] = [];
    for (let index = 0; index < reports.length; index++) {
      const report = reports[index] as OutcomeReport;
      const answer = replies[index] as Buffer | [Buffer, Buffer];
      const reply = decodeOutcomeReply(Array.isArray(answer) ? answer[0] : answer);
      if (Array.isArray(answer) && (reply.status === 'applied' || reply.status === 'corrected')) joins.push({ index, eventTime: reply.time, kept: answer[1] });
      const { result, toTerminal } = outcomeResultOf(report, reply);
      results.push(result);
      if (toTerminal === undefined) continue;
      // The terminal gets the frauds the outcomes say.
      const argument = terminalOutcomeArgument(report.transactionId, dayOf(toTerminal.time), toTerminal.outcomes);
      if (argument !== undefined) {
        terminalOutcomes.push(argument);
        terminals.push(this.terminalKey(toTerminal.terminalId));
      }
    }
    if (terminalOutcomes.length > 0) {
      await this.connection.roundTrip(terminalOutcomes.length, (batch) => {
        terminalOutcomes.forEach((argument, index) => {
          batch.grouped(this.terminalOutcome, [terminals[index] as string], [argument]);
        });
      });
    }
    if (joins.length === 0) return results;
    const scores = await this.scores.resolve(joins.map((join) => join.kept));
    joins.forEach((join, position) => {
      const joined: JoinedScores = { eventTime: join.eventTime, scores: scores[position] ?? [] };
      results[join.index] = { ...(results[join.index] as OutcomeResult), joined };
    });
    return results;
  }

  async close(): Promise<void> {
    await this.repairs.close();
    await this.connection.close();
  }

  customerKey(customerId: bigint): string {
    return `${this.prefix}{c:${customerId}}`;
  }

  terminalKey(terminalId: bigint): string {
    return `${this.prefix}{t:${terminalId}}`;
  }

  indexKey(transactionId: bigint): string {
    return `${this.prefix}{x:${transactionId}}`;
  }
}

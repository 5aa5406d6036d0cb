import { TERMINAL_DAY_STRIDE, dayOf, type TransactionHistory } from '../features/entityHistory.js';
import type { Logger } from '../observability/logger.js';
import { ConflictingRepeatError, conflictOf, conflictingRepeats, type RepeatConflict } from './conflictingRepeats.js';
import { retentionSeconds, type Retention } from './entityRecords.js';
import {
  beforeTransactionMessage,
  conflictingOutcomeMessage,
  correctedOutcomeMessage,
  duplicateOutcomeMessage,
  outOfOrderCorrectionMessage,
  tooManyCorrectionsMessage,
  unknownTransactionMessage,
} from './outcomeMessages.js';
import {
  customerArgument,
  decodeCustomerReply,
  decodeIndexEntry,
  decodeOutcomeReply,
  decodeTerminalReply,
  decodeWatermark,
  indexValue,
  retentionArgument,
  outcomeArgument,
  terminalArgument,
  terminalOutcomeArgument,
  uncountArgument,
  type MutableTerminalHistory,
  type RecordedOutcome,
} from './redisCodec.js';
import { RedisConnection, type RedisFailureReason, type RedisScript } from './redisConnection.js';
import { reconcile } from './redisReconcile.js';
import { TerminalRepairs, type Repair } from './redisRepairs.js';
import { RedisScores } from './redisScores.js';
import type { JoinedScores, ScoresNotKept, TransactionScores } from './modelScores.js';
import type { RedisSentinelOptions } from './redisClient.js';
import { CUSTOMER_RECORD, INDEX_FORGET, OUTCOME_RECORD, TERMINAL_OUTCOME, TERMINAL_RECORD, TERMINAL_UNCOUNT } from './redisScripts.js';
import {
  MAX_CORRECTIONS,
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
 * pipelined (with the other calls of the same event-loop turn). The customer
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
    // Round trips one after the other, each bounded by Redis's silence (RedisConnection.within). One that
    // fails leaves the earlier ones recorded: the caller's retry of the same call records each transaction
    // once (idempotent by id) and gets the same features (docs/history.md, Operations).
    const late: LateTransaction[] = [];
    for (let first = 0; first < transactions.length; first += MAX_TRANSACTIONS_PER_ROUND_TRIP) {
      const chunk = transactions.length <= MAX_TRANSACTIONS_PER_ROUND_TRIP ? transactions : transactions.slice(first, first + MAX_TRANSACTIONS_PER_ROUND_TRIP);
      const histories = await this.recordRoundTrip(chunk);
      // A single transaction's conflict shows in its round trip: as a repeat, it recorded nothing.
      const conflicts = histories.filter((history): history is RepeatConflict => 'fields' in history);
      if (conflicts.length > 0) throw new ConflictingRepeatError(conflicts.map((conflict) => ({ ...conflict, index: first + conflict.index })));
      for (let index = 0; index < chunk.length; index++) {
        const history = histories[index] as TransactionHistory | LateTransaction;
        if ('earliestAccepted' in history) late.push({ index: first + index, earliestAccepted: history.earliestAccepted });
        else use(first + index, history);
      }
    }
    return late;
  }

  /** One pipelined round trip recording up to MAX_TRANSACTIONS_PER_ROUND_TRIP transactions, in order. */
  private async recordRoundTrip(transactions: readonly TransactionEvent[]): Promise<(TransactionHistory | LateTransaction | RepeatConflict)[]> {
    const answers = this.connection.send(transactions.length * 3, (batch) => {
      for (const { id, customerId, terminalId, amount, time } of transactions) {
        const terminal = this.terminalKey(terminalId);
        batch.script(this.customerRecord, [this.customerKey(customerId)], [customerArgument(id, time, amount, this.customerRetention)]);
        batch.script(this.terminalRecord, [terminal, `${terminal}:ids`], [terminalArgument(id, time, this.terminalRetention)]);
        batch.setIfAbsent(this.indexKey(id), indexValue(customerId, terminalId, time, amount), this.terminalTtlMs);
      }
    });
    // Settled even when the caller has stopped waiting: the repairs a late answer calls for still happen.
    const settled = answers.then((replies) => this.settle(transactions, replies as (Buffer | null)[]));
    settled.catch(() => undefined);
    return this.connection.within(settled);
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
      for (const customerId of customers) batch.head(this.customerKey(customerId), 8);
      for (const event of transactions) batch.get(this.indexKey(event.id));
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

  /**
   * Reads the replies of one round trip in order, decides what each
   * transaction counts for as the embedded store would (lateness from the
   * customer, repeats from the transaction index), sends the repairs that
   * needs, and returns each one's history or refusal.
   */
  private settle(transactions: readonly TransactionEvent[], replies: readonly (Buffer | null)[]): (TransactionHistory | LateTransaction | RepeatConflict)[] {
    const results = new Array<TransactionHistory | LateTransaction | RepeatConflict>(transactions.length);
    const repairs: Repair[] = [];
    // Index entries refused transactions of this round trip wrote, to remove once it is settled.
    const forgets = new Map<string, Buffer>();
    // Counts taken back earlier in this round trip: later views of the same terminal must not show them.
    let takenBack: { terminalId: bigint; day: number }[] | undefined;
    for (let index = 0; index < transactions.length; index++) {
      const event = transactions[index] as TransactionEvent;
      const customer = decodeCustomerReply(replies[index * 3] as Buffer);
      const terminal = decodeTerminalReply(replies[index * 3 + 1] as Buffer);
      const indexKey = this.indexKey(event.id);
      const entry = replies[index * 3 + 2] ?? null;
      // The entry an earlier, refused transaction of this round trip wrote (the same id sent twice) records no repeat.
      const refusedEntry = entry !== null && forgets.get(indexKey)?.equals(entry) === true;
      const recorded = refusedEntry ? undefined : decodeIndexEntry(entry);
      if (takenBack !== undefined) correct(terminal.history, event.terminalId, takenBack);
      const verdict = reconcile(event, customer.status, terminal.count, recorded, terminal.watermarkBefore - this.options.latenessSeconds);
      // (The same customer at the same time is refused again: that entry is never needed.)
      if (verdict.forgetIndex) forgets.set(indexKey, indexValue(event.customerId, event.terminalId, event.time, event.amount));
      if (verdict.takeBack !== undefined) {
        this.options.onRepair?.(verdict.takeBack);
        repairs.push({ terminalId: event.terminalId, argument: uncountArgument(event.id, event.time, terminal.watermarkBefore), gated: false });
        (takenBack ??= []).push({ terminalId: event.terminalId, day: dayOf(event.time) });
      }
      if (verdict.late) {
        results[index] = { index, earliestAccepted: customer.earliestAccepted };
        continue;
      }
      const conflict = verdict.duplicate ? conflictOf(event, index, recorded) : undefined;
      if (conflict !== undefined) {
        results[index] = conflict;
        continue;
      }
      if (event.time > this.watermark) this.watermark = event.time;
      results[index] = { customer: customer.history, terminal: terminal.history, duplicate: verdict.duplicate };
    }
    // Sent before the call returns, so this replica's next commands come after them.
    if (repairs.length > 0) this.repairs.send(repairs);
    if (forgets.size > 0) this.sendForgets([...forgets].map(([key, value]) => ({ key, value })));
    return results;
  }

  /** Index entries of refused transactions; one that cannot be removed expires with its TTL (an outcome for it then finds it). */
  private sendForgets(forgets: readonly { key: string; value: Buffer }[]): void {
    const warn = (error: unknown): void => {
      this.log.warn({ error: error instanceof Error ? error.message : String(error) }, 'could not remove the index entry of a refused transaction; it expires with its TTL');
    };
    try {
      this.connection
        .send(forgets.length, (batch) => {
          for (const { key, value } of forgets) batch.script(this.indexForget, [key], [value]);
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
        batch.script(this.outcomeRecord, [key, `${key}:s`], [outcomeArgument(report.outcome, report.knownAt), report.supersedes === true ? '1' : '0']);
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
      if (reply.status === 'unknown_transaction') {
        results.push({ status: reply.status, message: unknownTransactionMessage(report.transactionId) });
        continue;
      }
      if (reply.status === 'before_transaction') {
        results.push({ status: reply.status, message: beforeTransactionMessage(report.knownAt, reply.time) });
        continue;
      }
      const inForce = reply.outcomes[reply.outcomes.length - 1] as RecordedOutcome;
      switch (reply.status) {
        case 'conflict':
          results.push({ status: reply.status, message: conflictingOutcomeMessage(report.transactionId, inForce.outcome, inForce.knownAt) });
          continue;
        case 'out_of_order':
          results.push({ status: reply.status, message: outOfOrderCorrectionMessage(inForce.outcome, inForce.knownAt) });
          continue;
        case 'too_many_corrections':
          results.push({ status: reply.status, message: tooManyCorrectionsMessage(report.transactionId, MAX_CORRECTIONS) });
          continue;
        case 'corrected': {
          const replaced = reply.outcomes[reply.outcomes.length - 2] as RecordedOutcome;
          results.push({
            status: reply.status,
            message: correctedOutcomeMessage(report.transactionId, replaced.outcome, replaced.knownAt, report.knownAt),
            replaced: { outcome: replaced.outcome, knownAt: replaced.knownAt },
          });
          break;
        }
        default:
          results.push({ status: reply.status, message: reply.status === 'applied' ? '' : duplicateOutcomeMessage(inForce.knownAt) });
      }
      // Applied, corrected or reported again: the terminal gets the frauds the outcomes say, so a retry repairs a crash between the two steps.
      const argument = terminalOutcomeArgument(report.transactionId, dayOf(reply.time), reply.outcomes);
      if (argument !== undefined) {
        terminalOutcomes.push(argument);
        terminals.push(this.terminalKey(reply.terminalId));
      }
    }
    if (terminalOutcomes.length > 0) {
      await this.connection.roundTrip(terminalOutcomes.length, (batch) => {
        terminalOutcomes.forEach((argument, index) => {
          batch.script(this.terminalOutcome, [terminals[index] as string], [argument]);
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

/** Takes out of a terminal view the counts taken back earlier in the same call (a refused or repeated transaction). */
function correct(history: MutableTerminalHistory, terminalId: bigint, takenBack: readonly { terminalId: bigint; day: number }[]): void {
  for (const entry of takenBack) {
    if (entry.terminalId !== terminalId) continue;
    for (let index = 0; index < history.dayCount; index++) {
      const base = index * TERMINAL_DAY_STRIDE;
      if (history.days[base] !== entry.day) continue;
      history.days[base + 1] = (history.days[base + 1] as number) - 1;
      break;
    }
  }
}

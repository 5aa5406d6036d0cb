import { createHash } from 'node:crypto';
import { Redis, type ChainableCommander } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import { StateUnavailableError } from './stateStore.js';

/** Why a Redis operation failed, for fraud_state_errors_total{reason}. */
export type RedisFailureReason = 'timeout' | 'unavailable' | 'overloaded' | 'error';

export interface RedisConnectionOptions {
  /** redis:// or rediss:// URL, without a password. */
  readonly url: string;
  /** From FRAUD_REDIS_PASSWORD only; never logged. */
  readonly password: string | undefined;
  /** Longest wait for one round trip before the operation fails (FRAUD_REDIS_TIMEOUT_MS). */
  readonly timeoutMs: number;
  readonly logger: Logger;
  /**
   * Commands sent and not yet answered, beyond which new operations fail at
   * once: while Redis is frozen, work waiting for it stays bounded.
   */
  readonly maxPendingCommands?: number;
  /** Told of every failed operation. */
  readonly onFailure?: (reason: RedisFailureReason) => void;
  /** Told when Redis stops or starts answering. */
  readonly onAvailability?: (available: boolean) => void;
}

/** A Lua script, run by its SHA1 (EVALSHA), with its source for Redis servers that do not have it yet. */
export class RedisScript {
  readonly sha: string;

  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
}

type Argument = string | Buffer;

/** A script call as sent, kept to send it again with its source if Redis answers NOSCRIPT. */
interface ScriptCall {
  readonly script: RedisScript;
  readonly keys: readonly string[];
  readonly args: readonly Argument[];
}

/** The commands of one operation, added to the pipeline of the current event-loop turn. */
export class CommandBatch {
  /** Per command: the script call, or undefined for a plain command. */
  readonly scriptCalls: (ScriptCall | undefined)[] = [];

  constructor(private readonly pipeline: ChainableCommander) {}

  script(script: RedisScript, keys: readonly string[], args: readonly Argument[]): void {
    this.pipeline.callBuffer('EVALSHA', script.sha, keys.length, ...keys, ...args);
    this.scriptCalls.push({ script, keys, args });
  }

  /** SET NX GET with a TTL: writes `value` unless the key exists, and answers what was there. */
  setIfAbsent(key: string, value: Buffer, ttlMs: string): void {
    this.pipeline.setBuffer(key, value, 'PX', ttlMs, 'NX', 'GET');
    this.scriptCalls.push(undefined);
  }

  get(key: string): void {
    this.pipeline.getBuffer(key);
    this.scriptCalls.push(undefined);
  }

  /** The first `bytes` bytes of a value. */
  head(key: string, bytes: number): void {
    this.pipeline.getrangeBuffer(key, 0, bytes - 1);
    this.scriptCalls.push(undefined);
  }
}

/** An operation waiting for its part of the current turn's pipeline. */
interface Waiting {
  readonly first: number;
  readonly batch: CommandBatch;
  readonly resolve: (replies: unknown[]) => void;
  readonly reject: (error: unknown) => void;
}

const DEFAULT_MAX_PENDING_COMMANDS = 100_000;
/** Reconnection backoff: 50 ms doubling up to this, plus jitter, so a returning Redis is used within about a second. */
const MAX_RECONNECT_DELAY_MS = 1_000;

/**
 * One connection to Redis that fails fast: no offline queue (an operation
 * while disconnected fails at once), a deadline on every round trip, a bound
 * on commands waiting for answers, and a socket that is dropped and
 * reconnected when Redis stops answering altogether (a frozen or partitioned
 * server), so nothing ever hangs.
 *
 * The commands of all operations started in the same event-loop turn go out
 * as one pipeline (one write, one read), and each operation gets its slice of
 * the answers. Scripts run by EVALSHA; all are loaded on each connection, and
 * a NOSCRIPT answer (a flushed script cache) is repaired by sending the
 * script's source once.
 *
 * It logs one warning per outage and one line when Redis answers again, and
 * never the password: ioredis attaches a failed command's arguments (AUTH
 * carries the password) to its errors, so only messages are logged.
 */
export class RedisConnection {
  readonly client: Redis;
  private readonly scripts: RedisScript[] = [];
  private turn: { pipeline: ChainableCommander; waiting: Waiting[]; commands: number } | undefined;
  private pendingCommands = 0;
  /** undefined until the first connection attempt settles. */
  private available: boolean | undefined;
  private outageStarted = 0;
  private failuresInOutage = 0;
  private firstReady: (() => void) | undefined;
  /** Resolves when Redis has answered once (the service is not ready before). */
  readonly ready: Promise<void>;
  private readonly maxPendingCommands: number;
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly options: RedisConnectionOptions) {
    this.maxPendingCommands = options.maxPendingCommands ?? DEFAULT_MAX_PENDING_COMMANDS;
    this.log = options.logger.child({ component: 'redis', redis: describeUrl(options.url) });
    this.ready = new Promise((resolveReady) => {
      this.firstReady = resolveReady;
    });
    // A connection that has written commands and hears nothing for this long is dropped and reconnected.
    const stallMs = Math.max(1_000, options.timeoutMs * 10);
    this.client = new Redis(options.url, {
      password: options.password,
      lazyConnect: true,
      enableOfflineQueue: false,
      // Commands in flight when the connection drops fail at once, and are never sent again.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: stallMs,
      socketTimeout: stallMs,
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt - 1, 10), MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100),
      connectionName: 'fraud-scoring',
      disableClientInfo: true,
    });
    this.client.on('ready', () => {
      this.loadScripts();
      this.answered();
    });
    this.client.on('error', (error: Error) => {
      this.unavailable(error.message);
    });
    this.client.on('close', () => {
      if (!this.closed) this.unavailable('connection closed');
    });
  }

  /** Starts connecting; never throws: an unreachable Redis is logged and retried. */
  connect(): void {
    this.client.connect().catch((error: unknown) => {
      this.unavailable(messageOf(error));
    });
  }

  /** A script this connection loads into Redis on every (re)connection. */
  script(lua: string): RedisScript {
    const script = new RedisScript(lua);
    this.scripts.push(script);
    return script;
  }

  get isAvailable(): boolean {
    return this.available === true;
  }

  get pending(): number {
    return this.pendingCommands;
  }

  /**
   * Adds `commands` commands (through `build`, synchronously) to this turn's
   * pipeline and returns their answers, in order. Fails with
   * StateUnavailableError at once when Redis is not connected or too much
   * already waits for it, and with an error when Redis answers one with an
   * error. The answer is not awaited here: see `within`.
   */
  send(commands: number, build: (batch: CommandBatch) => void): Promise<unknown[]> {
    if (this.client.status !== 'ready') throw this.failure('unavailable', 'not connected to Redis (reconnecting)');
    if (this.pendingCommands + commands > this.maxPendingCommands) {
      throw this.failure('overloaded', `${this.pendingCommands} commands already wait for Redis`);
    }
    if (this.turn === undefined) {
      this.turn = { pipeline: this.client.pipeline(), waiting: [], commands: 0 };
      // After the current turn's calls have added theirs: one write for all of them.
      setImmediate(() => {
        this.flush();
      });
    }
    const turn = this.turn;
    const batch = new CommandBatch(turn.pipeline);
    build(batch);
    this.pendingCommands += batch.scriptCalls.length;
    return new Promise<unknown[]>((resolve, reject) => {
      turn.waiting.push({ first: turn.commands, batch, resolve, reject });
      turn.commands += batch.scriptCalls.length;
    });
  }

  /**
   * `work` (answers from `send`, and what is made of them) within the
   * timeout, or StateUnavailableError. What arrives late is still processed by
   * whoever holds `work`; only the caller stops waiting.
   */
  within<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolveWork, rejectWork) => {
      const timer = setTimeout(() => {
        rejectWork(this.failure('timeout', `Redis did not answer within ${this.options.timeoutMs} ms (FRAUD_REDIS_TIMEOUT_MS)`));
      }, this.options.timeoutMs);
      work.then(
        (value) => {
          clearTimeout(timer);
          resolveWork(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          rejectWork(error instanceof StateUnavailableError ? error : this.failure(reasonOf(error), messageOf(error)));
        },
      );
    });
  }

  /** `send` and `within` in one: the answers of one round trip, in time. */
  roundTrip(commands: number, build: (batch: CommandBatch) => void): Promise<unknown[]> {
    return this.within(this.send(commands, build));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.client.status === 'ready') {
      const quit = this.client.quit().catch(() => undefined);
      await Promise.race([quit, new Promise((wake) => setTimeout(wake, Math.max(100, this.options.timeoutMs)).unref())]);
    }
    this.client.disconnect();
  }

  private flush(): void {
    const turn = this.turn;
    this.turn = undefined;
    if (turn === undefined) return;
    const settle = (results: [Error | null, unknown][] | undefined, error: unknown): void => {
      this.pendingCommands -= turn.commands;
      // Redis answered if any reply came back, an error reply included (a dropped connection fails them all otherwise).
      if (results?.some(([error]) => error === null || error.name === 'ReplyError') === true) this.answered();
      for (const waiting of turn.waiting) {
        if (results === undefined) waiting.reject(error);
        else this.deliver(waiting, results.slice(waiting.first, waiting.first + waiting.batch.scriptCalls.length));
      }
    };
    turn.pipeline.exec().then(
      (results) => {
        settle(results ?? [], undefined);
      },
      (error: unknown) => {
        settle(undefined, error);
      },
    );
  }

  /** One operation's answers; scripts Redis did not have are sent again with their source, in order. */
  private deliver(waiting: Waiting, results: [Error | null, unknown][]): void {
    const missing: number[] = [];
    for (let index = 0; index < results.length; index++) {
      const error = (results[index] as [Error | null, unknown])[0];
      if (error === null) continue;
      if (error.message.startsWith('NOSCRIPT') && waiting.batch.scriptCalls[index] !== undefined) {
        missing.push(index);
        continue;
      }
      waiting.reject(error);
      return;
    }
    const replies = results.map((result) => result[1]);
    if (missing.length === 0) {
      waiting.resolve(replies);
      return;
    }
    // Redis lost its scripts (SCRIPT FLUSH, a new server behind the same address): EVAL brings them back.
    const pipeline = this.client.pipeline();
    for (const index of missing) {
      const { script, keys, args } = waiting.batch.scriptCalls[index] as ScriptCall;
      pipeline.callBuffer('EVAL', script.lua, keys.length, ...keys, ...args);
    }
    pipeline.exec().then(
      (again) => {
        for (const [position, index] of missing.entries()) {
          const [error, reply] = (again ?? [])[position] ?? [new Error('no answer'), undefined];
          if (error !== null) {
            waiting.reject(error);
            return;
          }
          replies[index] = reply;
        }
        waiting.resolve(replies);
      },
      (error: unknown) => {
        waiting.reject(error);
      },
    );
  }

  /** Loads every script, so EVALSHA finds them (a failure here shows as NOSCRIPT later, which is repaired). */
  private loadScripts(): void {
    for (const script of this.scripts) {
      this.client.script('LOAD', script.lua).catch(() => undefined);
    }
  }

  /** A failed operation: counted, logged once per outage, returned as the error the call fails with. */
  private failure(reason: RedisFailureReason, message: string): StateUnavailableError {
    this.options.onFailure?.(reason);
    if (reason !== 'overloaded') this.unavailable(message, reason);
    if (this.available === false) this.failuresInOutage++;
    return new StateUnavailableError(message);
  }

  private unavailable(message: string, reason: RedisFailureReason = 'unavailable'): void {
    if (this.closed || this.available === false) return;
    const starting = this.available === undefined;
    this.available = false;
    this.outageStarted = Date.now();
    this.failuresInOutage = 0;
    this.options.onAvailability?.(false);
    if (/WRONGPASS|NOAUTH|invalid password|AUTH failed/i.test(message)) {
      this.log.error({ error: message }, 'Redis refused the credentials: check FRAUD_REDIS_PASSWORD; history calls fail with UNAVAILABLE until it accepts them');
      return;
    }
    this.log.warn(
      { reason, error: message },
      starting ? 'Redis unreachable at start: history calls fail with UNAVAILABLE until it answers' : 'Redis unavailable: history calls fail with UNAVAILABLE until it answers',
    );
  }

  private answered(): void {
    if (this.closed || this.available === true) return;
    const recovering = this.available === false && this.firstReady === undefined;
    this.available = true;
    this.options.onAvailability?.(true);
    if (this.firstReady !== undefined) {
      this.firstReady();
      this.firstReady = undefined;
      this.log.info('Redis connected: history store ready');
      return;
    }
    if (recovering) this.log.info({ outageMs: Date.now() - this.outageStarted, failedOperations: this.failuresInOutage }, 'Redis available again');
  }
}

/** A connection error (no answer possible) or an error Redis answered (e.g. OOM, a script error). */
function reasonOf(error: unknown): RedisFailureReason {
  if (error instanceof Error && (error.name === 'ReplyError' || error.name === 'ReplyFormatError')) return 'error';
  return 'unavailable';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** host:port/db of the URL, for logs (it never holds a password: config refuses one). */
function describeUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
}

import { Redis } from 'ioredis';
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

export type ScriptCall = (...args: (string | Buffer | number)[]) => Promise<Buffer>;

const DEFAULT_MAX_PENDING_COMMANDS = 100_000;
/** Reconnection backoff: 50 ms doubling up to this, plus jitter, so a returning Redis is used within about a second. */
const MAX_RECONNECT_DELAY_MS = 1_000;

/**
 * One connection to Redis that fails fast: no offline queue (an operation
 * while disconnected fails at once), a deadline on every round trip, a bound
 * on commands waiting for answers, and a socket that is dropped and
 * reconnected when Redis stops answering altogether (a frozen or partitioned
 * server), so nothing ever hangs. Commands issued in the same event-loop turn
 * share one write (auto-pipelining), across concurrent calls.
 *
 * It logs one warning per outage and one line when Redis answers again, and
 * never the password: ioredis attaches a failed command's arguments (AUTH
 * carries the password) to its errors, so only messages are logged.
 */
export class RedisConnection {
  readonly client: Redis;
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
      enableAutoPipelining: true,
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
      this.unavailable(error instanceof Error ? error.message : String(error));
    });
  }

  /** A Lua script as a command of this client (EVALSHA, with EVAL when Redis does not have it). */
  script(name: string, lua: string, keys: number): ScriptCall {
    this.client.defineCommand(name, { lua, numberOfKeys: keys });
    const call = Reflect.get(this.client, `${name}Buffer`) as ScriptCall;
    return call.bind(this.client);
  }

  get isAvailable(): boolean {
    return this.available === true;
  }

  get pending(): number {
    return this.pendingCommands;
  }

  /**
   * Sends `commands` commands (through `send`, synchronously) and returns
   * their answers. Fails with StateUnavailableError at once when Redis is not
   * connected or too much already waits for it. The answer is not awaited
   * here: see `within`.
   */
  send<T>(commands: number, send: () => Promise<T>): Promise<T> {
    if (this.client.status !== 'ready') throw this.failure('unavailable', 'not connected to Redis (reconnecting)');
    if (this.pendingCommands + commands > this.maxPendingCommands) {
      throw this.failure('overloaded', `${this.pendingCommands} commands already wait for Redis`);
    }
    this.pendingCommands += commands;
    const answers = send();
    answers.then(
      () => {
        this.pendingCommands -= commands;
        this.answered();
      },
      () => {
        this.pendingCommands -= commands;
      },
    );
    return answers;
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
  roundTrip<T>(commands: number, send: () => Promise<T>): Promise<T> {
    return this.within(this.send(commands, send));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.client.status === 'ready') {
      const quit = this.client.quit().catch(() => undefined);
      await Promise.race([quit, new Promise((wake) => setTimeout(wake, Math.max(100, this.options.timeoutMs)).unref())]);
    }
    this.client.disconnect();
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

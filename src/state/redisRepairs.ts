import type { Logger } from '../observability/logger.js';
import type { RedisConnection, RedisScript } from './redisConnection.js';

/** A count the terminal script made that the customer or the transaction index overruled. */
export interface Repair {
  readonly terminalId: bigint;
  readonly argument: Buffer;
  /** A retried repair only applies while the terminal still remembers the count (it may have run already). */
  gated: boolean;
}

/** Repairs kept for a retry when Redis failed them; beyond it they are dropped, logged and counted. */
const MAX_UNREPAIRED = 10_000;
const REPAIR_RETRY_MS = 1_000;

export interface TerminalRepairsOptions {
  readonly connection: RedisConnection;
  /** TERMINAL_UNCOUNT (redisScripts.ts): takes one count back, idempotently. */
  readonly uncount: RedisScript;
  readonly terminalKey: (terminalId: bigint) => string;
  /** Told of each repair dropped because too many wait for Redis. */
  readonly onDropped: (() => void) | undefined;
  readonly log: Logger;
}

/**
 * Terminal counts taken back (RedisStateStore): each sent at once, and, when
 * Redis fails it (it may have run or not), kept and sent again, gated so it
 * never counts back twice, once Redis is available; at most MAX_UNREPAIRED
 * wait, and the last ones are tried once more at close.
 */
export class TerminalRepairs {
  private readonly waiting: Repair[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: TerminalRepairsOptions) {}

  send(repairs: readonly Repair[]): void {
    const { connection, uncount, terminalKey } = this.options;
    for (const repair of repairs) {
      const terminal = terminalKey(repair.terminalId);
      let sent: Promise<unknown[]>;
      try {
        sent = connection.send(1, (batch) => {
          batch.script(uncount, [terminal, `${terminal}:ids`], [repair.argument, repair.gated ? '1' : '0']);
        });
      } catch {
        this.keepForRetry(repair);
        continue;
      }
      sent.catch(() => {
        this.keepForRetry(repair);
      });
    }
  }

  /** Redis is available again: the repairs waiting go out now. */
  resume(): void {
    this.schedule(0);
  }

  /** Sends what still waits (if Redis is available), once; logs what Redis never took. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const { connection, uncount, terminalKey, log } = this.options;
    if (this.waiting.length > 0 && connection.isAvailable) {
      const repairs = this.waiting.splice(0);
      await Promise.allSettled(
        repairs.map((repair) => {
          const terminal = terminalKey(repair.terminalId);
          return connection.roundTrip(1, (batch) => {
            batch.script(uncount, [terminal, `${terminal}:ids`], [repair.argument, '1']);
          });
        }),
      );
    }
    if (this.waiting.length > 0) log.warn({ repairs: this.waiting.length }, 'stopping with terminal repairs Redis never took');
  }

  /** A repair Redis failed may have run or not: retried later, gated so it never counts back twice. */
  private keepForRetry(repair: Repair): void {
    repair.gated = true;
    if (this.waiting.length >= MAX_UNREPAIRED) {
      this.options.onDropped?.();
      this.options.log.error({ terminalId: String(repair.terminalId) }, 'a terminal count could not be repaired (too many repairs wait for Redis); that terminal counts one transaction too many until it expires');
      return;
    }
    this.waiting.push(repair);
    this.schedule(REPAIR_RETRY_MS);
  }

  private schedule(delayMs: number): void {
    if (this.waiting.length === 0 || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.options.connection.isAvailable) {
        this.schedule(REPAIR_RETRY_MS);
        return;
      }
      this.send(this.waiting.splice(0));
    }, delayMs);
    this.timer.unref();
  }
}

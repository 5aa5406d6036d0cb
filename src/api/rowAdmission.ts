import { ServerInterceptingCall, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';
import { constants } from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { RowsRefusedError, toCallError } from './apiErrors.js';
import { http2StreamOf } from './callStream.js';
import { CheckedRequest } from './requestDecoding.js';
import { streamAdmission } from './streamAdmission.js';

export interface RowLimits {
  /** Rows (transactions, outcomes) in flight in the whole process. */
  readonly max: number;
  /** Rows in flight on one connection (one client, usually). */
  readonly maxPerConnection: number;
  /** How long an answer may wait for its client to read it before its call is reset and its rows given back. */
  readonly unreadAnswerMs: number;
  /** Rows of the process only calls of one row (unary calls) may take, so batches cannot hold them out (0 by default). */
  readonly reservedForSingles?: number;
}

/** Unary calls in flight a full process still takes (far more than ghz at c=64 holds); never more than one connection's share leaves. */
export function singlesReserve(max: number, maxPerConnection: number): number {
  return Math.min(1_000, max - maxPerConnection);
}

/** How a call that held rows was cut off: its answer unread past the time limit, or taken back for a connection under its fair share. */
export type ResetReason = 'time_limit' | 'fair_share';

/** How long a refused caller should wait before it retries (google.rpc.RetryInfo); a few scoring runs' worth. */
export const RETRY_DELAY_MS = 100;

/**
 * How long an answer must have waited before its rows can be taken back for
 * another connection: a client that reads takes a 10,000-transaction answer in
 * milliseconds, so one still unread after a second is not reading.
 */
export const RECLAIM_AFTER_MS = 1_000;

/** The rows of one call, from admission to the end of the call. */
export interface RowHold {
  /** The call has sent its answer: from now on it only waits for its client to read it. */
  answered(): void;
  /** Gives the rows back (once). */
  release(): void;
}

interface Hold extends RowHold {
  readonly rows: number;
  readonly connection: string;
  answeredAt: number;
  readonly reset: () => void;
}

/**
 * Admission control on rows in flight (transactions to score, outcomes to
 * record). A call holds its rows from the moment its request is checked until
 * the call ends, that is until its answer has been read by the client or the
 * call is gone: grpc-js keeps the request and the encoded answer of a call
 * whose client does not read, so that is what memory is made of. A call whose
 * rows would take its connection over its limit is refused at once with
 * RESOURCE_EXHAUSTED and a retry hint, before any work.
 *
 * What a client leaves unread cannot hold the others out:
 * - an answer unread for `unreadAnswerMs` has its call reset (HTTP/2
 *   RST_STREAM ENHANCE_YOUR_CALM, which clients see as RESOURCE_EXHAUSTED) and
 *   its rows given back;
 * - when the process is full, a call on a connection that stays within its
 *   fair share (the process limit divided by the connections holding rows,
 *   the caller included) takes its room back from answers of connections over
 *   theirs that have waited unread for a second or more, oldest first, which
 *   are reset the same way. Calls being scored are never cut off: they end
 *   within a scoring run.
 * - batches leave `reservedForSingles` rows to calls of one row, so unary
 *   calls are admitted ahead of bulk ones.
 * So a client that reads its answers is served as long as it asks for no more
 * than its share, however many answers other connections leave unread.
 */
export class RowAdmission {
  private total = 0;
  private readonly byConnection = new Map<string, number>();
  /** Answered calls whose client has not read the answer yet, oldest answer first (a Set keeps insertion order). */
  private readonly unread = new Set<Hold>();
  private readonly refusedByProcess;
  private readonly refusedByConnection;
  private readonly resets: Record<ResetReason, { inc(count?: number): void }>;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    readonly limits: RowLimits,
    metrics: Metrics,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.refusedByProcess = metrics.admissionRefusals.labels('process');
    this.refusedByConnection = metrics.admissionRefusals.labels('connection');
    this.resets = { time_limit: metrics.unreadAnswerResets.labels('time_limit'), fair_share: metrics.unreadAnswerResets.labels('fair_share') };
    metrics.rowsInFlightSource = () => this.total;
    // Precise enough: an unread answer is reset between its limit and a quarter of it later.
    this.sweeper = setInterval(() => {
      this.resetExpired();
    }, Math.max(10, Math.min(1000, limits.unreadAnswerMs / 4)));
    this.sweeper.unref();
  }

  /** Rows held now, in the whole process. */
  get inFlight(): number {
    return this.total;
  }

  /** Rows held now by `connection`. */
  heldBy(connection: string): number {
    return this.byConnection.get(connection) ?? 0;
  }

  /** Throws RowsRefusedError when `connection` could not take one row now (before a request is read). */
  checkRoom(connection: string): void {
    this.makeRoom(1, connection, false);
  }

  /**
   * Takes `rows` for a call on `connection`, or throws RowsRefusedError.
   * `reset` cuts the call off (it is called at most once, when the call's
   * answer stays unread too long or its rows are taken back).
   */
  admit(rows: number, connection: string, reset: () => void): RowHold {
    this.makeRoom(rows, connection, true);
    this.total += rows;
    this.byConnection.set(connection, this.heldBy(connection) + rows);
    let released = false;
    const hold: Hold = {
      rows,
      connection,
      answeredAt: Number.NaN,
      reset,
      answered: () => {
        if (released || !Number.isNaN(hold.answeredAt)) return;
        hold.answeredAt = this.now();
        this.unread.add(hold);
      },
      release: () => {
        if (released) return;
        released = true;
        this.unread.delete(hold);
        this.total -= rows;
        const left = this.heldBy(connection) - rows;
        if (left <= 0) this.byConnection.delete(connection);
        else this.byConnection.set(connection, left);
      },
    };
    return hold;
  }

  /** Stops the time limit's timer (the process is stopping). */
  close(): void {
    clearInterval(this.sweeper);
  }

  /** Resets the calls whose answers have waited past the time limit. */
  resetExpired(now = this.now()): void {
    for (const hold of this.unread) {
      if (now - hold.answeredAt < this.limits.unreadAnswerMs) break;
      this.cutOff(hold, 'time_limit');
    }
  }

  /** Throws unless `rows` fit for `connection`; with `take`, resets the unread answers that make the room. */
  private makeRoom(rows: number, connection: string, take: boolean): void {
    const held = this.heldBy(connection);
    if (held + rows > this.limits.maxPerConnection) {
      this.refusedByConnection.inc();
      throw new RowsRefusedError(
        `this connection has ${held} rows in flight (limit ${this.limits.maxPerConnection}, FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION); read the answers or retry after ${RETRY_DELAY_MS} ms`,
        RETRY_DELAY_MS,
      );
    }
    // Batches leave the reserve to unary calls: real-time calls are admitted ahead of bulk ones.
    const limit = rows > 1 ? this.limits.max - (this.limits.reservedForSingles ?? 0) : this.limits.max;
    const missing = this.total + rows - limit;
    if (missing <= 0) return;
    const victims = this.reclaimable(missing, connection, held + rows);
    if (victims === undefined) {
      this.refusedByProcess.inc();
      throw new RowsRefusedError(
        `the service is scoring or delivering ${this.total} rows (limit ${this.limits.max}, FRAUD_MAX_ROWS_IN_FLIGHT); retry after ${RETRY_DELAY_MS} ms`,
        RETRY_DELAY_MS,
      );
    }
    if (take) for (const victim of victims) this.cutOff(victim, 'fair_share');
  }

  /**
   * The unread answers, oldest first, of connections over their fair share
   * that free at least `missing` rows; undefined when the caller (which would
   * hold `wanted`) is itself over its share or there are not enough of them.
   */
  private reclaimable(missing: number, connection: string, wanted: number): Hold[] | undefined {
    const contenders = this.byConnection.size + (this.byConnection.has(connection) ? 0 : 1);
    const share = Math.floor(this.limits.max / contenders);
    if (wanted > share) return undefined;
    const left = new Map<string, number>();
    const victims: Hold[] = [];
    let freed = 0;
    const answeredBefore = this.now() - Math.min(RECLAIM_AFTER_MS, this.limits.unreadAnswerMs);
    for (const hold of this.unread) {
      if (hold.answeredAt > answeredBefore) break;
      const holderHas = left.get(hold.connection) ?? this.heldBy(hold.connection);
      if (hold.connection === connection || holderHas <= share) continue;
      victims.push(hold);
      left.set(hold.connection, holderHas - hold.rows);
      freed += hold.rows;
      if (freed >= missing) return victims;
    }
    return undefined;
  }

  private cutOff(hold: Hold, reason: ResetReason): void {
    // Another hold of the same stream was cut off first, and gave this one back with the call.
    if (!this.unread.has(hold)) return;
    hold.release();
    this.resets[reason].inc();
    hold.reset();
  }
}

/**
 * Applies admission control to every call that carries rows, in one place: a
 * server interceptor. Twice per call:
 * - when its headers arrive, before its request is read: a call on a
 *   connection (or a process) already at its limit is refused at once, and
 *   its request bytes are dropped as they come, never buffered (a client that
 *   piles up calls it does not read costs nothing more);
 * - when its request has been checked and counted (before it is decoded, so a
 *   refusal costs little): its rows are taken, or the call is refused.
 * Once the call has handed over its answer, its rows wait for the client to read
 * it (see RowAdmission's time limit). They are given back when the call
 * ends: grpc-js reports the end of every call, answered or not, as onCancel.
 */
export function admissionInterceptor(admission: RowAdmission, carriesRows: (path: string) => boolean, logger: Logger): ServerInterceptor {
  return (method, call) => {
    if (!carriesRows(method.path)) return new ServerInterceptingCall(call);
    if (method.requestStream) return streamAdmission(admission, call, logger, method.path);
    const methodName = method.path.slice(method.path.lastIndexOf('/') + 1);
    const connection = call.getPeer();
    let hold: RowHold | undefined;
    let refused = false;
    const refuse = (error: unknown): void => {
      refused = true;
      const { code, details, metadata } = toCallError(error, logger, methodName);
      call.sendStatus({ code, details, metadata: metadata ?? null });
    };
    // Node drops what the stream still had to send, and grpc-js then ends the call (onCancel).
    const reset = (): void => {
      http2StreamOf(call)?.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    };
    return new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata: Metadata, nextMetadata: (metadata: Metadata) => void) => {
            try {
              admission.checkRoom(connection);
            } catch (error) {
              refuse(error);
              return;
            }
            nextMetadata(metadata);
          },
          onReceiveMessage: (message: unknown, nextMessage: (message: unknown) => void) => {
            // Requests arrive checked and counted, not decoded yet; a malformed one has no rows (the handler answers it).
            const rows = message instanceof CheckedRequest ? message.rows : 0;
            if (refused) return;
            if (rows > 0) {
              try {
                hold = admission.admit(rows, connection, reset);
              } catch (error) {
                refuse(error);
                return;
              }
            }
            nextMessage(message);
          },
          onReceiveHalfClose: (nextHalfClose: () => void) => {
            if (!refused) nextHalfClose();
          },
          onCancel: () => {
            hold?.release();
            hold = undefined;
          },
        });
      },
      // The answer is handed over (grpc-js holds the status back until the message is written, which is what an unread answer never is).
      sendMessage: (message: unknown, nextMessage: (message: unknown) => void) => {
        hold?.answered();
        nextMessage(message);
      },
      sendStatus: (sent, nextStatus) => {
        hold?.answered();
        nextStatus(sent);
      },
    });
  };
}

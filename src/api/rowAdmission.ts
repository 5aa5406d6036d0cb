import { ServerInterceptingCall, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { RowsRefusedError, toCallError } from './apiErrors.js';
import { CheckedRequest } from './requestDecoding.js';

export interface RowLimits {
  /** Transactions in flight in the whole process. */
  readonly max: number;
  /** Transactions in flight on one connection (one client, usually). */
  readonly maxPerConnection: number;
}

/** How long a refused caller should wait before it retries (google.rpc.RetryInfo); a few scoring runs' worth. */
export const RETRY_DELAY_MS = 100;

/**
 * Admission control on transactions ("rows") in flight. A call holds its rows
 * from the moment its request is decoded until the call ends, that is until
 * its answer has been read by the client or the call is gone: grpc-js keeps
 * the decoded request and the encoded answer of a call whose client does not
 * read, so that is what memory is made of. A call whose rows would take the
 * process or its connection over the limit is refused at once with
 * RESOURCE_EXHAUSTED and a retry hint, before any work.
 *
 * The per-connection limit keeps one client (say, one that never reads its
 * answers) from taking the whole budget; a connection holds no rows after
 * FRAUD_GRPC_MAX_CONNECTION_AGE_SECONDS plus its grace, when it is closed.
 */
export class RowAdmission {
  private total = 0;
  private readonly byConnection = new Map<string, number>();
  private readonly refusedByProcess;
  private readonly refusedByConnection;

  constructor(
    readonly limits: RowLimits,
    metrics: Metrics,
  ) {
    this.refusedByProcess = metrics.admissionRefusals.labels('process');
    this.refusedByConnection = metrics.admissionRefusals.labels('connection');
    metrics.rowsInFlightSource = () => this.total;
  }

  /** Transactions held now, in the whole process. */
  get inFlight(): number {
    return this.total;
  }

  /** Throws RowsRefusedError when the process or `connection` has no room left at all (before a request is read). */
  checkRoom(connection: string): void {
    this.check(1, this.byConnection.get(connection) ?? 0);
  }

  /**
   * Takes `rows` for a call on `connection` and returns the function that
   * gives them back (once), or throws RowsRefusedError.
   */
  admit(rows: number, connection: string): () => void {
    const held = this.byConnection.get(connection) ?? 0;
    this.check(rows, held);
    this.total += rows;
    this.byConnection.set(connection, held + rows);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total -= rows;
      const left = (this.byConnection.get(connection) ?? rows) - rows;
      if (left <= 0) this.byConnection.delete(connection);
      else this.byConnection.set(connection, left);
    };
  }

  private check(rows: number, held: number): void {
    if (this.total + rows > this.limits.max) {
      this.refusedByProcess.inc();
      throw new RowsRefusedError(
        `the service is scoring or delivering ${this.total} transactions (limit ${this.limits.max}, FRAUD_MAX_ROWS_IN_FLIGHT); retry after ${RETRY_DELAY_MS} ms`,
        RETRY_DELAY_MS,
      );
    }
    if (held + rows > this.limits.maxPerConnection) {
      this.refusedByConnection.inc();
      throw new RowsRefusedError(
        `this connection has ${held} transactions in flight (limit ${this.limits.maxPerConnection}, FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION); read the answers or retry after ${RETRY_DELAY_MS} ms`,
        RETRY_DELAY_MS,
      );
    }
  }
}

/**
 * Applies admission control to every scoring call, in one place: a server
 * interceptor. Twice per call:
 * - when its headers arrive, before its request is read: a call on a
 *   connection (or a process) already at its limit is refused at once, and
 *   its request bytes are dropped as they come, never buffered (a client that
 *   piles up calls it does not read costs nothing more);
 * - when its request has been checked and counted (before it is decoded, so a
 *   refusal costs little): its rows are taken, or the call is refused.
 * The rows are given back when the call ends: grpc-js reports the end of every
 * call, answered or not, as onCancel.
 */
export function admissionInterceptor(admission: RowAdmission, carriesRows: (path: string) => boolean, logger: Logger): ServerInterceptor {
  return (method, call) => {
    if (!carriesRows(method.path)) return new ServerInterceptingCall(call);
    const methodName = method.path.slice(method.path.lastIndexOf('/') + 1);
    const connection = call.getPeer();
    let release: (() => void) | undefined;
    let refused = false;
    const refuse = (error: unknown): void => {
      refused = true;
      const { code, details, metadata } = toCallError(error, logger, methodName);
      call.sendStatus({ code, details, metadata: metadata ?? null });
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
                release = admission.admit(rows, connection);
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
            release?.();
            release = undefined;
          },
        });
      },
    });
  };
}

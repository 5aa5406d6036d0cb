import type { Logger } from '../observability/logger.js';
import type { RedisFailureReason } from './redisConnection.js';

/** A Cluster is available again after this long without a failed operation. */
const CLUSTER_RECOVERY_QUIET_MS = 1_000;

/**
 * Whether Redis answers, as the service reports it: ready once Redis has
 * answered, one warning when an outage starts and one line when it ends (with
 * its length and the operations it failed), never one per call, and the
 * credentials problem said as such. A Cluster with one shard down answers some
 * operations and fails others: it counts as available again only once nothing
 * failed for a quiet spell, so a partial outage is one outage.
 */
export class RedisAvailability {
  /** Resolves when Redis has answered once (the service is not ready before). */
  readonly ready: Promise<void>;
  /** undefined until the first connection attempt settles. */
  private available: boolean | undefined;
  private firstReady: (() => void) | undefined;
  private outageStarted = 0;
  private failuresInOutage = 0;
  /** When the last operation failed (Date.now()). */
  private lastFailure = 0;
  private recoveryCheck: NodeJS.Timeout | undefined;
  private readonly recoveryQuietMs: number;
  private closed = false;

  constructor(
    private readonly log: Logger,
    cluster: boolean,
    private readonly onAvailability: ((available: boolean) => void) | undefined,
  ) {
    this.recoveryQuietMs = cluster ? CLUSTER_RECOVERY_QUIET_MS : 0;
    this.ready = new Promise((resolveReady) => {
      this.firstReady = resolveReady;
    });
  }

  get isAvailable(): boolean {
    return this.available === true;
  }

  /** An operation failed (counted in the outage it belongs to). */
  countFailure(): void {
    if (this.available === false) this.failuresInOutage++;
  }

  /** Redis failed to answer: the start of an outage, unless one is on. */
  unavailable(message: string, reason: RedisFailureReason = 'unavailable'): void {
    this.lastFailure = Date.now();
    if (this.closed || this.available === false) return;
    const starting = this.available === undefined;
    this.available = false;
    this.outageStarted = Date.now();
    this.failuresInOutage = 0;
    this.onAvailability?.(false);
    if (/WRONGPASS|NOAUTH|invalid password|AUTH failed/i.test(message)) {
      this.log.error({ error: message }, 'Redis refused the credentials: check FRAUD_REDIS_PASSWORD; history calls fail with UNAVAILABLE until it accepts them');
      return;
    }
    this.log.warn(
      { reason, error: message },
      starting ? 'Redis unreachable at start: history calls fail with UNAVAILABLE until it answers' : 'Redis unavailable: history calls fail with UNAVAILABLE until it answers',
    );
  }

  /** Redis answered (it connected, or every node of a round trip answered). */
  answered(): void {
    const quietFor = Date.now() - this.lastFailure;
    if (this.available === false && quietFor < this.recoveryQuietMs) {
      this.recoveryCheck ??= setTimeout(() => {
        this.recoveryCheck = undefined;
        this.answered();
      }, this.recoveryQuietMs - quietFor);
      this.recoveryCheck.unref();
      return;
    }
    if (this.closed || this.available === true) return;
    const recovering = this.available === false && this.firstReady === undefined;
    this.available = true;
    this.onAvailability?.(true);
    if (this.firstReady !== undefined) {
      this.firstReady();
      this.firstReady = undefined;
      this.log.info('Redis connected: history store ready');
      return;
    }
    if (recovering) this.log.info({ outageMs: Date.now() - this.outageStarted, failedOperations: this.failuresInOutage }, 'Redis available again');
  }

  close(): void {
    this.closed = true;
    if (this.recoveryCheck !== undefined) clearTimeout(this.recoveryCheck);
  }
}

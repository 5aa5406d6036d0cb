import { status, type Server, type ServerWritableStream } from '@grpc/grpc-js';
import { DEFAULT_HEALTH_MAX_WATCHES, DEFAULT_HEALTH_MAX_WATCHES_PER_CONNECTION } from '../config/config.js';
import type { Metrics } from '../observability/metrics.js';
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthService,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from '../gen/grpc/health/v1/health.js';

export { HealthCheckResponse_ServingStatus as ServingStatus } from '../gen/grpc/health/v1/health.js';

type Watcher = ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;

/** Bounds on Watch streams, each of which holds memory for as long as its client keeps it open. */
export interface WatchLimits {
  /** Watch streams open in the whole process. */
  readonly max: number;
  /** Watch streams open on one connection. */
  readonly maxPerConnection: number;
}

const DEFAULT_WATCH_LIMITS: WatchLimits = { max: DEFAULT_HEALTH_MAX_WATCHES, maxPerConnection: DEFAULT_HEALTH_MAX_WATCHES_PER_CONNECTION };

export interface ServingHealthOptions {
  readonly watchLimits?: WatchLimits;
  /** Exports the streams open and counts the refused ones; undefined in servers without metrics. */
  readonly metrics?: Metrics;
}

/**
 * grpc.health.v1.Health on the generated code: Check answers the status of a
 * known service (NOT_FOUND otherwise), List all of them, and Watch streams one
 * and then every change, and only changes (SERVICE_UNKNOWN for a service not
 * known yet, as the protocol says). The composition root sets the statuses; nothing here decides
 * what healthy means.
 */
export class ServingHealth {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<Watcher>>();
  /** Watch streams open, in all and by connection (peer address). */
  private watchCount = 0;
  private readonly watchesByConnection = new Map<string, number>();
  private readonly watchLimits: WatchLimits;
  private readonly refusals: { readonly process?: { inc(): void }; readonly connection?: { inc(): void } };
  private watchesEnded = false;

  constructor(initial: Readonly<Record<string, ServingStatus>>, options: ServingHealthOptions = {}) {
    for (const [service, serving] of Object.entries(initial)) this.statuses.set(service, serving);
    this.watchLimits = options.watchLimits ?? DEFAULT_WATCH_LIMITS;
    const { metrics } = options;
    this.refusals = { process: metrics?.healthWatchRefusals.labels('process'), connection: metrics?.healthWatchRefusals.labels('connection') };
    if (metrics !== undefined) {
      metrics.healthWatchesSource = () => this.watchCount;
      metrics.healthServingSource = () => [...this.statuses].map(([service, serving]) => [service, serving === ServingStatus.SERVING] as const);
    }
  }

  /** Watch streams open now. */
  get watches(): number {
    return this.watchCount;
  }

  setStatus(service: string, serving: ServingStatus): void {
    if (this.statuses.get(service) === serving) return;
    this.statuses.set(service, serving);
    for (const watcher of this.watchers.get(service) ?? []) watcher.write({ status: serving });
  }

  /**
   * Ends every Watch stream (after the last status was sent): open streams
   * would otherwise hold a graceful shutdown until its grace period ends.
   * Watchers reconnect and watch the next instance.
   */
  endWatches(): void {
    this.watchesEnded = true;
    for (const watchers of this.watchers.values()) {
      for (const watcher of watchers) watcher.end();
    }
    this.watchers.clear();
  }

  addToServer(server: Pick<Server, 'addService'>): void {
    const implementation: HealthServer = {
      check: (call, callback) => {
        const serving = this.statuses.get(call.request.service);
        if (serving === undefined) callback({ code: status.NOT_FOUND, details: `unknown service ${call.request.service}` });
        else callback(null, { status: serving });
      },
      list: (_call, callback) => {
        callback(null, { statuses: Object.fromEntries([...this.statuses].map(([service, serving]) => [service, { status: serving }])) });
      },
      watch: (call) => {
        const { service } = call.request;
        const refusal = this.watchRefusal(call.getPeer());
        if (refusal !== undefined) {
          // Ends the stream with this status (grpc-js turns a stream error into the call's status).
          call.emit('error', { code: status.RESOURCE_EXHAUSTED, details: refusal });
          return;
        }
        call.write({ status: this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN });
        if (this.watchesEnded) {
          // Shutting down: the status above is the last one; keeping the stream would hold the drain.
          call.end();
          return;
        }
        const release = this.takeWatch(call.getPeer());
        const watchers = this.watchers.get(service) ?? new Set<Watcher>();
        this.watchers.set(service, watchers);
        watchers.add(call);
        // grpc-js reports the end of every call, a closed connection included, as 'cancelled'.
        const forget = (): void => {
          release();
          watchers.delete(call);
          if (watchers.size === 0 && this.watchers.get(service) === watchers) this.watchers.delete(service);
        };
        if (call.cancelled) forget();
        else call.once('cancelled', forget);
      },
    };
    server.addService(HealthService, implementation);
  }

  /** Why a Watch on `connection` is refused now, or undefined when it may open. */
  private watchRefusal(connection: string): string | undefined {
    if (this.watchCount >= this.watchLimits.max) {
      this.refusals.process?.inc();
      return `the service has ${this.watchCount} health watches open (limit ${this.watchLimits.max}, FRAUD_HEALTH_MAX_WATCHES); retry later`;
    }
    const open = this.watchesByConnection.get(connection) ?? 0;
    if (open >= this.watchLimits.maxPerConnection) {
      this.refusals.connection?.inc();
      return `this connection has ${open} health watches open (limit ${this.watchLimits.maxPerConnection}, FRAUD_HEALTH_MAX_WATCHES_PER_CONNECTION); close one first`;
    }
    return undefined;
  }

  /** Counts a Watch on `connection`; returns the function that gives it back (once). */
  private takeWatch(connection: string): () => void {
    this.watchCount++;
    this.watchesByConnection.set(connection, (this.watchesByConnection.get(connection) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.watchCount--;
      const left = (this.watchesByConnection.get(connection) ?? 1) - 1;
      if (left <= 0) this.watchesByConnection.delete(connection);
      else this.watchesByConnection.set(connection, left);
    };
  }
}

import { status, type Server, type ServerWritableStream } from '@grpc/grpc-js';
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthService,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from '../gen/grpc/health/v1/health.js';

export { HealthCheckResponse_ServingStatus as ServingStatus } from '../gen/grpc/health/v1/health.js';

type Watcher = ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;

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
  private watchesEnded = false;

  constructor(initial: Readonly<Record<string, ServingStatus>>) {
    for (const [service, serving] of Object.entries(initial)) this.statuses.set(service, serving);
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
        call.write({ status: this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN });
        if (this.watchesEnded) {
          // Shutting down: the status above is the last one; keeping the stream would hold the drain.
          call.end();
          return;
        }
        const watchers = this.watchers.get(service) ?? new Set<Watcher>();
        this.watchers.set(service, watchers);
        watchers.add(call);
        call.once('cancelled', () => {
          watchers.delete(call);
          if (watchers.size === 0 && this.watchers.get(service) === watchers) this.watchers.delete(service);
        });
      },
    };
    server.addService(HealthService, implementation);
  }
}

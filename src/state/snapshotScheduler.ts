import { performance } from 'node:perf_hooks';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { MemoryStateStore } from './memoryStateStore.js';
import { SnapshotError, restoreSnapshot, writeSnapshot } from './stateSnapshot.js';

export interface SnapshotSchedulerOptions {
  readonly store: MemoryStateStore;
  readonly path: string;
  readonly intervalMs: number;
  readonly specVersion: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * When the embedded store is saved: restored once at start, written on an
 * interval and a last time at shutdown (after the calls have drained, so the
 * last snapshot holds every recorded transaction). A failed write is logged
 * and counted; the service keeps serving.
 */
export class SnapshotScheduler {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(private readonly options: SnapshotSchedulerOptions) {
    this.log = options.logger.child({ snapshot: options.path });
  }

  /** Loads the last snapshot, if any; an unreadable one is logged and the store starts empty. */
  async restore(): Promise<void> {
    const { store, path, specVersion } = this.options;
    const started = performance.now();
    try {
      const header = await restoreSnapshot(store, path, specVersion);
      if (header === undefined) {
        this.log.info('no state snapshot yet: starting with an empty history');
        return;
      }
      const stats = store.stats();
      this.log.info(
        { writtenAt: header.writtenAt, customers: stats.customers, terminals: stats.terminals, transactions: stats.transactions, ms: Math.round(performance.now() - started) },
        'state snapshot restored',
      );
    } catch (error) {
      if (!(error instanceof SnapshotError)) throw error;
      this.log.warn({ error: error.message }, 'state snapshot unusable: starting with an empty history');
    }
  }

  start(): void {
    this.timer = setInterval(() => {
      void this.write();
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops the interval and writes the last snapshot. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
    await this.write();
  }

  private write(): Promise<void> {
    // One write at a time: a slow disk must not stack snapshots up.
    this.writing ??= this.writeOnce().finally(() => {
      this.writing = undefined;
    });
    return this.writing;
  }

  private async writeOnce(): Promise<void> {
    const { store, path, specVersion, metrics } = this.options;
    const started = performance.now();
    try {
      const bytes = await writeSnapshot(store, path, specVersion);
      const seconds = (performance.now() - started) / 1000;
      metrics.stateSnapshots.labels('ok').inc();
      metrics.stateSnapshotTime.set(Date.now() / 1000);
      metrics.stateSnapshotDuration.observe(seconds);
      this.log.debug({ bytes, ms: Math.round(seconds * 1000) }, 'state snapshot written');
    } catch (error) {
      metrics.stateSnapshots.labels('error').inc();
      this.log.warn({ error: (error as Error).message }, 'state snapshot failed; serving unaffected, history since the last snapshot would be lost on a restart');
    }
  }
}

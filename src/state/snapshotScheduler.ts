import { performance } from 'node:perf_hooks';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { MemoryStateStore } from './memoryStateStore.js';
import { SnapshotLoss } from './snapshotLoss.js';
import { SnapshotError, removeUnfinishedWrites, restoreSnapshot, setAside, writeSnapshot, type QualityPart } from './stateSnapshot.js';

/** The embedded store's live quality as a part of its snapshots (src/quality/qualitySnapshot.ts). */
export interface QualitySnapshotPart {
  /** The part's bytes as of now: called synchronously when the history's capture begins. */
  capture(): Buffer;
  /** Restores a part a snapshot held, into an empty ledger; throws when it cannot be read. */
  restore(bytes: Buffer): { readonly revisions: number; readonly days: number };
}

/** What the start found for live quality, until the ledger is attached. */
type FoundQuality = QualityPart | { readonly state: 'no_snapshot' } | { readonly state: 'history_unreadable' };

export interface SnapshotSchedulerOptions {
  readonly store: MemoryStateStore;
  readonly path: string;
  readonly intervalMs: number;
  readonly specVersion: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Event time a window reaches back: how long a loss keeps the history incomplete. */
  readonly retentionSeconds: number;
  /** Told when `historyIncomplete` changes. */
  readonly onChange?: () => void;
}

/**
 * When the embedded store is saved: restored once at start, written on an
 * interval and a last time at shutdown (after the calls have drained, so the
 * last snapshot holds every recorded transaction). A failed write is logged
 * and counted; the service keeps serving. A snapshot that cannot be read is
 * never overwritten: it is set aside for an operator, and the history starting
 * empty is an error log, a counter and a gauge. The live quality of the
 * embedded store goes in the same file once attached (attachQuality): until
 * then snapshots are written without it, so the composition root attaches it
 * before start().
 */
export class SnapshotScheduler {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  /** Set when an unreadable snapshot could not be moved aside: writing would destroy it. */
  private writesRefused = false;
  private readonly log: Logger;
  private readonly loss: SnapshotLoss;
  private incomplete = false;
  private untilLogged = false;
  private quality: QualitySnapshotPart | undefined;
  private foundQuality: FoundQuality = { state: 'no_snapshot' };

  constructor(private readonly options: SnapshotSchedulerOptions) {
    this.log = options.logger.child({ snapshot: options.path });
    this.loss = new SnapshotLoss({ path: options.path, retentionSeconds: options.retentionSeconds, watermark: () => options.store.watermark });
  }

  /**
   * True while the history is known incomplete: an unreadable snapshot is kept
   * aside beside the path (its removal acknowledges the loss), or this process
   * started empty for one, and event time has not yet moved a retention past
   * the loss. Rechecked at every snapshot interval.
   */
  get historyIncomplete(): boolean {
    return this.incomplete;
  }

  private async checkLoss(): Promise<void> {
    const incomplete = await this.loss.check();
    this.options.metrics.state.historyIncomplete.labels('memory').set(incomplete ? 1 : 0);
    const until = this.loss.until;
    if (incomplete && until !== undefined && !this.untilLogged) {
      this.untilLogged = true;
      this.log.warn({ incompleteUntil: until }, 'history known incomplete until this event time (Unix seconds), or until the kept-aside snapshot is removed');
    }
    if (incomplete === this.incomplete) return;
    this.incomplete = incomplete;
    if (!incomplete) this.log.info('history complete again: no window reaches back into the lost snapshot (or its kept-aside copies were removed)');
    this.options.onChange?.();
  }

  /** Removes unfinished writes, then loads the last snapshot, if any; an unreadable one is set aside and the store starts empty. */
  async restore(): Promise<void> {
    await this.restoreOnce();
    await this.checkLoss();
  }

  private async restoreOnce(): Promise<void> {
    const { store, path, specVersion, metrics } = this.options;
    metrics.state.snapshotUnreadable.set(0);
    for (const leftover of await removeUnfinishedWrites(path)) {
      this.log.warn({ file: leftover.name, bytes: leftover.bytes }, 'removed the temporary file of a snapshot write that never finished');
    }
    const started = performance.now();
    try {
      const header = await restoreSnapshot(store, path, specVersion);
      this.foundQuality = header?.quality ?? { state: 'no_snapshot' };
      if (header === undefined) {
        metrics.state.snapshotRestores.labels('none').inc();
        this.log.info('no state snapshot yet: starting with an empty history');
        return;
      }
      // An interval snapshot: its writer ended without the last one (killed, out of memory, a node lost).
      const partial = header.shutdown === false;
      metrics.state.snapshotRestores.labels(partial ? 'restored_partial' : 'restored').inc();
      if (partial) {
        this.log.error(
          { writtenAt: header.writtenAt },
          'state snapshot restored from before an unclean stop: what the previous process recorded after writtenAt is lost (retries of it count again)',
        );
      }
      const stats = store.stats();
      this.log.info(
        { writtenAt: header.writtenAt, customers: stats.customers, terminals: stats.terminals, transactions: stats.transactions, ms: Math.round(performance.now() - started) },
        'state snapshot restored',
      );
    } catch (error) {
      if (!(error instanceof SnapshotError)) throw error;
      metrics.state.snapshotRestores.labels('unreadable').inc();
      metrics.state.snapshotUnreadable.set(1);
      this.foundQuality = { state: 'history_unreadable' };
      this.loss.noteLost();
      let keptAs: string | undefined;
      try {
        keptAs = await setAside(path);
      } catch (moveError) {
        // Writing now would overwrite the only copy: this process keeps no snapshots.
        this.writesRefused = true;
        this.log.error(
          { error: error.message, moveError: (moveError as Error).message },
          'state snapshot unreadable and cannot be moved aside: starting with an EMPTY history (history lost), and writing no snapshot over it',
        );
        return;
      }
      this.log.error({ error: error.message, keptAs }, 'state snapshot unreadable: kept aside, starting with an EMPTY history (history lost)');
    }
  }

  /**
   * Live quality goes with the history: restores what the snapshot restored
   * at start held (the same moment as its history), and writes it with every
   * snapshot from now on. Called once, after restore() and before any call
   * can report an outcome. A quality part that cannot be read leaves quality
   * empty, said once (error log, metrics), the history restored all the same.
   */
  attachQuality(part: QualitySnapshotPart): void {
    const { metrics } = this.options;
    this.quality = part;
    const found = this.foundQuality;
    this.foundQuality = { state: 'no_snapshot' };
    metrics.state.snapshotQualityUnreadable.set(0);
    let reason: string;
    switch (found.state) {
      case 'no_snapshot':
        metrics.state.snapshotQualityRestores.labels('none').inc();
        return;
      case 'absent':
        metrics.state.snapshotQualityRestores.labels('none').inc();
        this.log.info('the state snapshot holds no live quality (written by an older version): live quality starts empty');
        return;
      case 'read':
        try {
          const restored = part.restore(found.bytes);
          metrics.state.snapshotQualityRestores.labels('restored').inc();
          this.log.info(restored, 'live quality restored from the state snapshot');
          return;
        } catch (error) {
          reason = (error as Error).message;
        }
        break;
      case 'corrupt':
        reason = found.reason;
        break;
      case 'history_unreadable':
        reason = 'the state snapshot was unreadable (see above)';
        break;
    }
    metrics.state.snapshotQualityRestores.labels('unreadable').inc();
    metrics.state.snapshotQualityUnreadable.set(1);
    this.log.error({ error: reason }, 'live quality in the state snapshot unreadable: starting with EMPTY live quality (the history is restored if it was readable)');
  }

  start(): void {
    this.timer = setInterval(() => {
      void this.checkLoss();
      if (!this.writesRefused) void this.write(false);
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops the interval and writes the last snapshot (no call is running any more: as fast as it goes). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
    if (this.writesRefused) return;
    await this.write(true);
  }

  private write(last: boolean): Promise<void> {
    // One write at a time: a slow disk must not stack snapshots up.
    this.writing ??= this.writeOnce(last).finally(() => {
      this.writing = undefined;
    });
    return this.writing;
  }

  private async writeOnce(last: boolean): Promise<void> {
    const { store, path, specVersion, metrics } = this.options;
    const started = performance.now();
    try {
      const { quality } = this;
      const bytes = await writeSnapshot(store, path, specVersion, {
        ...(last ? { sliceMs: Number.POSITIVE_INFINITY, shutdown: true } : {}),
        ...(quality === undefined ? {} : { quality: () => quality.capture() }),
      });
      const seconds = (performance.now() - started) / 1000;
      metrics.state.snapshots.labels('ok').inc();
      metrics.state.snapshotTime.set(Date.now() / 1000);
      metrics.state.snapshotDuration.observe(seconds);
      if (last) this.log.info({ bytes, ms: Math.round(seconds * 1000) }, 'last state snapshot written');
      else this.log.debug({ bytes, ms: Math.round(seconds * 1000) }, 'state snapshot written');
    } catch (error) {
      metrics.state.snapshots.labels('error').inc();
      this.log.warn({ error: (error as Error).message }, 'state snapshot failed; serving unaffected, history since the last snapshot would be lost on a restart');
    }
  }
}

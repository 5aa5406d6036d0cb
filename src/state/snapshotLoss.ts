import { readdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

export interface SnapshotLossOptions {
  /** The snapshot's path: unreadable snapshots are kept beside it as `<path>.unreadable-<time>`. */
  readonly path: string;
  /** Event time a window reaches back (the longest window plus the delay and the lateness). */
  readonly retentionSeconds: number;
  /** Newest event time the store has recorded (-Infinity before the first). */
  readonly watermark: () => number;
}

/**
 * The embedded store's counterpart of a Redis that lost its data: a snapshot
 * that could not be read, so the store started empty. The history is known
 * incomplete while an unreadable snapshot is kept aside beside the path (or
 * this process found one it could not move) and until event time has moved a
 * whole retention past the first transaction seen after the loss: from then
 * on no window reaches back into what was lost. Removing the kept-aside files
 * is how an operator acknowledges the loss sooner. The first transaction is
 * read from the watermark when checked, so the window errs on the long side.
 */
export class SnapshotLoss {
  private lostHere = false;
  private keptAside = 0;
  private firstSeen: number | undefined;

  constructor(private readonly options: SnapshotLossOptions) {}

  /** This process found the snapshot unreadable and started empty. */
  noteLost(): void {
    this.lostHere = true;
  }

  /** Rereads the kept-aside files; resolves with whether the history is known incomplete now. */
  async check(): Promise<boolean> {
    const { path } = this.options;
    const prefix = `${basename(path)}.unreadable-`;
    let names: string[] = [];
    try {
      names = await readdir(dirname(path));
    } catch {
      // No folder: nothing kept aside.
    }
    this.keptAside = names.filter((name) => name.startsWith(prefix)).length;
    return this.incomplete;
  }

  get incomplete(): boolean {
    if (!this.lostHere && this.keptAside === 0) return false;
    const until = this.until;
    return until === undefined || this.options.watermark() < until;
  }

  /** Event time (Unix seconds) from which no window reaches back into the loss; undefined until a transaction is seen. */
  get until(): number | undefined {
    const watermark = this.options.watermark();
    if (this.firstSeen === undefined && Number.isFinite(watermark)) this.firstSeen = watermark;
    return this.firstSeen === undefined ? undefined : this.firstSeen + this.options.retentionSeconds;
  }
}

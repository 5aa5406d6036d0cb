import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { DecisionSink } from './decisionSink.js';
import type { EncodedRecord } from './decisionRecords.js';

const gzipAsync = promisify(gzip);

/** Finished files: decisions-<UTC start, sortable>-<instance>-<sequence>.jsonl.gz. */
const FINISHED_SUFFIX = '.jsonl.gz';
/** The file being written ends in .open until it is rotated: readers and shippers take only finished ones. */
const OPEN_SUFFIX = `${FINISHED_SUFFIX}.open`;
const PREFIX = 'decisions-';

export interface FileSinkOptions {
  readonly dir: string;
  /** Part of every file name, so replicas can share a directory. */
  readonly instance: string;
  /** A file is finished once it holds this many bytes (compressed). */
  readonly maxBytes: number;
  /** …or once it has been open this long. */
  readonly rotateMs: number;
  /** Finished files kept; the oldest are deleted beyond. */
  readonly keepFiles: number;
}

/**
 * Decision records as JSON Lines in gzip files in a local directory. Each
 * write appends one gzip member (a complete gzip stream: `zcat` and every
 * gzip reader read the concatenation as one file), so a crash can cut off at
 * most the member being written. Files rotate by size and age; names sort by
 * the time they were started; only the newest `keepFiles` finished files are
 * kept. Disk use is bounded by about (keepFiles + 1) × maxBytes.
 */
export class FileSink implements DecisionSink {
  readonly name = 'file';
  private current: { readonly path: string; readonly handle: FileHandle; readonly openedAt: number; bytes: number } | undefined;
  private sequence = 0;
  private readonly safeInstance: string;
  private prepared = false;
  private ageTimer: NodeJS.Timeout | undefined;
  /** Writes and rotations one at a time. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: FileSinkOptions) {
    this.safeInstance = options.instance.replace(/[^A-Za-z0-9._-]/g, '_');
  }

  write(records: readonly EncodedRecord[]): Promise<void> {
    return this.serial(async () => {
      const member = await gzipAsync(Buffer.from(records.map((record) => `${record.json}\n`).join(''), 'utf8'));
      const file = await this.openFile();
      await file.handle.write(member, 0, member.length, null);
      file.bytes += member.length;
      if (file.bytes >= this.options.maxBytes) await this.finish();
    });
  }

  close(): Promise<void> {
    clearTimeout(this.ageTimer);
    return this.serial(() => this.finish());
  }

  private serial(work: () => Promise<void>): Promise<void> {
    const next = this.chain.then(work);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async openFile(): Promise<NonNullable<FileSink['current']>> {
    if (this.current !== undefined) return this.current;
    if (!this.prepared) {
      await mkdir(this.options.dir, { recursive: true });
      await this.finishLeftovers();
      this.prepared = true;
    }
    const openedAt = Date.now();
    const name = `${PREFIX}${sortableTime(openedAt)}-${this.safeInstance}-${String(++this.sequence).padStart(6, '0')}${OPEN_SUFFIX}`;
    const path = join(this.options.dir, name);
    const handle = await open(path, 'a');
    this.current = { path, handle, openedAt, bytes: 0 };
    clearTimeout(this.ageTimer);
    this.ageTimer = setTimeout(() => {
      void this.serial(() => this.finish()).catch(() => undefined);
    }, this.options.rotateMs);
    this.ageTimer.unref();
    return this.current;
  }

  /** Closes the current file, gives it its finished name, and deletes the oldest finished files beyond the limit. */
  private async finish(): Promise<void> {
    const file = this.current;
    if (file === undefined) return;
    this.current = undefined;
    clearTimeout(this.ageTimer);
    await file.handle.sync();
    await file.handle.close();
    await rename(file.path, file.path.slice(0, -'.open'.length));
    await this.prune();
  }

  /** Files this instance left open when it stopped without closing them (a crash): finished as they are. */
  private async finishLeftovers(): Promise<void> {
    for (const name of await readdir(this.options.dir)) {
      if (name.startsWith(PREFIX) && name.endsWith(OPEN_SUFFIX) && name.includes(`-${this.safeInstance}-`)) {
        const path = join(this.options.dir, name);
        if ((await stat(path)).size === 0) await rm(path, { force: true });
        else await rename(path, path.slice(0, -'.open'.length));
      }
    }
    await this.prune();
  }

  private async prune(): Promise<void> {
    const finished = (await readdir(this.options.dir)).filter((name) => name.startsWith(PREFIX) && name.endsWith(FINISHED_SUFFIX) && name.includes(`-${this.safeInstance}-`)).sort();
    for (const name of finished.slice(0, Math.max(0, finished.length - this.options.keepFiles))) {
      await rm(join(this.options.dir, name), { force: true });
    }
  }
}

/** 20261207T050102345Z: UTC to the millisecond, sorting as text in time order. */
export function sortableTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, '');
}

import { randomBytes } from 'node:crypto';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The files around a state snapshot: the temporary file of each write, and unreadable snapshots kept aside. */

/** A snapshot file that cannot be read; the store then starts empty. */
export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';
}

/** A name for one write's temporary file: unique per process and write, since processes may share a volume. */
export function temporaryName(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/**
 * Removes the temporary files of writes that never finished (a process killed
 * while writing leaves one, as big as a snapshot); resolves with what went.
 * The path is one process's own (see docs/history.md), so no other write is in progress.
 */
export async function removeUnfinishedWrites(path: string): Promise<{ name: string; bytes: number }[]> {
  const folder = dirname(path);
  const prefix = `${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return [];
  }
  const removed: { name: string; bytes: number }[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const full = join(folder, name);
    const bytes = await stat(full).then(
      (info) => info.size,
      () => 0,
    );
    await rm(full, { force: true });
    removed.push({ name: full, bytes });
  }
  return removed;
}

/** Moves an unreadable snapshot out of the way, never over another file; resolves with its new path. */
export async function setAside(path: string, now = new Date()): Promise<string> {
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  for (let attempt = 0; ; attempt++) {
    const target = `${path}.unreadable-${stamp}${attempt === 0 ? '' : `-${attempt}`}`;
    const taken = await stat(target).then(
      () => true,
      () => false,
    );
    if (taken) continue;
    await rename(path, target);
    return target;
  }
}

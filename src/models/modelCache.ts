import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FetchedModel } from './modelSource.js';
import type { ModelTask } from './modelTask.js';

/** What `current.json` in a task's cache folder says. */
interface CachePointer {
  readonly token: string;
  readonly revision: string;
  readonly source: string;
  readonly stem: string;
}

export interface CachedModel {
  readonly token: string;
  readonly fetched: FetchedModel;
}

/**
 * The last good version of each remote model on local disk, so a pod that
 * restarts while the store is down still serves. Files are written first and
 * the pointer last (by rename), so a crash never leaves a half-written version
 * behind the pointer. The loader checks a cached copy like any other.
 */
export class ModelCache {
  constructor(private readonly directory: string) {}

  async write(task: ModelTask, token: string, fetched: FetchedModel): Promise<void> {
    const folder = join(this.directory, task);
    await mkdir(folder, { recursive: true });
    const stem = `${Date.now()}-${process.pid}`;
    await writeFile(join(folder, `${stem}.onnx`), fetched.modelBytes);
    await writeFile(join(folder, `${stem}.json`), fetched.manifestBytes);
    const pointer: CachePointer = { token, revision: fetched.revision, source: fetched.source, stem };
    await writeFile(join(folder, 'current.json.tmp'), JSON.stringify(pointer));
    await rename(join(folder, 'current.json.tmp'), join(folder, 'current.json'));
    await this.removeOthers(folder, stem);
  }

  /** The cached version of `task` if it came from `source` (a changed configuration ignores it). */
  async read(task: ModelTask, source: string): Promise<CachedModel | undefined> {
    const folder = join(this.directory, task);
    let pointer: CachePointer;
    try {
      pointer = JSON.parse(await readFile(join(folder, 'current.json'), 'utf8')) as CachePointer;
    } catch {
      return undefined;
    }
    if (pointer.source !== source || !/^[\w-]+$/.test(pointer.stem)) return undefined;
    try {
      const [modelBytes, manifestBytes] = await Promise.all([
        readFile(join(folder, `${pointer.stem}.onnx`)),
        readFile(join(folder, `${pointer.stem}.json`)),
      ]);
      return { token: pointer.token, fetched: { manifestBytes, modelBytes, revision: pointer.revision, source } };
    } catch {
      return undefined;
    }
  }

  private async removeOthers(folder: string, keep: string): Promise<void> {
    for (const name of await readdir(folder)) {
      if (name !== 'current.json' && !name.startsWith(`${keep}.`)) await rm(join(folder, name), { force: true });
    }
  }
}

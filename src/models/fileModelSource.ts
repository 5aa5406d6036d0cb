import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManifestError, parseManifest } from './manifest.js';
import { ModelSourceError, type FetchedModel, type ModelSource } from './modelSource.js';

/**
 * A manifest and its .onnx on the local disk: the bundled models, or files a
 * volume (a ConfigMap, a synced folder) replaces; the manifest's size and mtime
 * tell a new version.
 */
export class FileModelSource implements ModelSource {
  readonly uri: string;
  readonly immutable = false;
  /** The manifest and the .onnx are two files replaced one after the other. */
  readonly snapshotReads = false;
  private readonly manifestPath: string;

  constructor(url: URL) {
    this.uri = url.href;
    this.manifestPath = fileURLToPath(url);
  }

  async probe(): Promise<string> {
    try {
      const info = await stat(this.manifestPath);
      return `${info.size}-${info.mtimeMs}`;
    } catch (error) {
      throw fileError(error, this.manifestPath);
    }
  }

  async fetch(): Promise<FetchedModel> {
    const manifestBytes = await this.read(this.manifestPath);
    // A manifest that does not parse is the watcher's to refuse; the source only needs the file name.
    const { model_file: modelFile, sha256 } = parseManifest(manifestBytes, this.uri);
    const modelBytes = await this.read(join(dirname(this.manifestPath), modelFile));
    return { manifestBytes, modelBytes, revision: `sha256:${sha256.slice(0, 12)}`, source: this.uri };
  }

  /**
   * At start: the manifest, or the model file it names, that does not exist or
   * cannot be read, as a sentence; undefined when both are there. Such a path is
   * a configuration mistake that no wait repairs. A manifest that does not
   * parse is not judged here: the loader refuses it with its reasons.
   */
  async missingFile(): Promise<string | undefined> {
    try {
      const { model_file: modelFile } = parseManifest(await this.read(this.manifestPath), this.uri);
      await stat(join(dirname(this.manifestPath), modelFile)).catch((error: unknown) => {
        throw fileError(error, join(dirname(this.manifestPath), modelFile), ` (named by ${this.manifestPath})`);
      });
      return undefined;
    } catch (error) {
      if (error instanceof ManifestError) return undefined;
      if (error instanceof ModelSourceError) return error.message;
      throw error;
    }
  }

  private async read(path: string): Promise<Uint8Array> {
    try {
      return await readFile(path);
    } catch (error) {
      throw fileError(error, path);
    }
  }
}

function fileError(error: unknown, path: string, note = ''): ModelSourceError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new ModelSourceError('not_found', `${path} does not exist${note}`);
  if (code === 'EACCES' || code === 'EPERM') return new ModelSourceError('denied', `${path} cannot be read (permission denied)${note}`);
  return new ModelSourceError('unreachable', `${path} cannot be read: ${(error as Error).message}`);
}

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../config/envValues.js';

/** A file the service reads, with the variable that names it (for error lines). */
export interface NamedFile {
  readonly variable: string;
  readonly path: string;
}

export interface FileReloaderOptions<T> {
  /** The files read together (a certificate and its key, say). */
  readonly files: readonly NamedFile[];
  readonly intervalMs: number;
  /** The contents read at start, as `parse` accepted them: only a change from them is reloaded. */
  readonly initial: readonly Buffer[];
  /** Checks the new contents; throws (a ConfigError naming the variable) when they cannot be used. */
  readonly parse: (contents: readonly Buffer[]) => T;
  readonly onLoaded: (value: T) => void;
  /** New contents that cannot be used, reported once per contents (the last good value stays). */
  readonly onRefused: (error: Error) => void;
}

/**
 * Reads a set of files again on an interval and hands over their new contents
 * once they have changed and passed `parse`. Kubernetes replaces a Secret
 * volume's files at once (a symlink swap), but other writers replace them one
 * by one, so a check may read a new certificate beside the old key: contents
 * that fail are reported only when the next check reads exactly the same
 * again, and a pair caught mid-rotation is never counted as an error.
 */
export class FileReloader<T> {
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private current: string;
  /** Contents that failed once, and whether they were reported. */
  private failing: { readonly signature: string; reported: boolean } | undefined;

  constructor(private readonly options: FileReloaderOptions<T>) {
    this.current = signatureOf(options.initial);
  }

  start(): void {
    this.timer ??= setInterval(() => {
      void this.check();
    }, this.options.intervalMs);
    // Rotation is no reason to keep a stopping process alive.
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One check: read, compare, parse, hand over or report. */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      let contents: Buffer[] | undefined;
      let signature: string;
      let readError: Error | undefined;
      try {
        contents = await Promise.all(this.options.files.map((file) => readNamedFile(file)));
        signature = signatureOf(contents);
      } catch (error) {
        readError = error instanceof Error ? error : new Error(String(error));
        signature = `unreadable: ${readError.message}`;
      }
      if (signature === this.current) {
        this.failing = undefined;
        return;
      }
      let value: T;
      try {
        if (readError !== undefined || contents === undefined) throw readError ?? new Error('unreadable');
        value = this.options.parse(contents);
      } catch (error) {
        this.failed(signature, error instanceof Error ? error : new Error(String(error)));
        return;
      }
      this.current = signature;
      this.failing = undefined;
      this.options.onLoaded(value);
    } finally {
      this.checking = false;
    }
  }

  private failed(signature: string, error: Error): void {
    if (this.failing?.signature !== signature) {
      // Seen once: maybe a rotation half done; the next check tells.
      this.failing = { signature, reported: false };
      return;
    }
    if (this.failing.reported) return;
    this.failing.reported = true;
    this.options.onRefused(error);
  }
}

/** A digest of the files' contents, so they are not kept twice in memory. */
function signatureOf(contents: readonly Buffer[]): string {
  const hash = createHash('sha256');
  for (const content of contents) {
    hash.update(String(content.length));
    hash.update(':');
    hash.update(content);
  }
  return hash.digest('hex');
}

/** A file's bytes, or a ConfigError naming its variable and why it cannot be read. */
export async function readNamedFile(file: NamedFile): Promise<Buffer> {
  try {
    return await readFile(file.path);
  } catch (error) {
    throw new ConfigError(file.variable, `cannot read ${file.path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

/** The same, at start-up (before anything listens). */
export function readNamedFileSync(file: NamedFile): Buffer {
  try {
    return readFileSync(file.path);
  } catch (error) {
    throw new ConfigError(file.variable, `cannot read ${file.path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

import { GetObjectCommand, HeadObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { posix } from 'node:path';
import type { LakefsRefResolver } from './lakefsRefResolver.js';
import { parseManifest } from './manifest.js';
import { ModelSourceError, type FetchedModel, type ModelSource } from './modelSource.js';

export interface S3ModelSourceOptions {
  /** s3://<bucket>/<key of the manifest .json>; for lakeFS, bucket = repository and the first key segment = ref. */
  readonly uri: URL;
  readonly client: S3Client;
  /** The endpoint, for error messages ("AWS S3" when none is configured). */
  readonly endpoint: string | undefined;
  /** When set, the ref is resolved to a commit id and both files are read by that commit. */
  readonly lakefs: LakefsRefResolver | undefined;
}

/**
 * A model in an S3 bucket: AWS S3, MinIO, Yandex Object Storage, or lakeFS
 * through its S3 gateway. The manifest is the pointer to a version: its ETag
 * (or, with lakeFS, the commit id its branch points to) is the probe token.
 * HeadObject, not a conditional GET: lakeFS's gateway ignores If-None-Match.
 */
export class S3ModelSource implements ModelSource {
  readonly uri: string;
  private readonly bucket: string;
  private readonly key: string;
  private readonly where: string;
  private pinned = false;

  constructor(private readonly options: S3ModelSourceOptions) {
    this.uri = options.uri.href;
    this.bucket = options.uri.hostname;
    this.key = decodeURIComponent(options.uri.pathname.replace(/^\//, ''));
    this.where = `s3://${this.bucket}/${this.key} at ${options.endpoint ?? 'AWS S3'}`;
  }

  /** A lakeFS commit id never changes: once the ref is known to be one, polling can stop. */
  get immutable(): boolean {
    return this.pinned;
  }

  /** With lakeFS, both files are read through one commit id; on plain S3 they are two objects. */
  get snapshotReads(): boolean {
    return this.options.lakefs !== undefined;
  }

  async probe(): Promise<string> {
    const { lakefs } = this.options;
    if (lakefs !== undefined) {
      const { commitId, pinned } = await lakefs.resolve(this.bucket, this.ref);
      this.pinned = pinned;
      return commitId;
    }
    try {
      const head = await this.options.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key }));
      return head.ETag?.replace(/"/g, '') ?? `${String(head.LastModified?.getTime())}-${String(head.ContentLength)}`;
    } catch (error) {
      throw this.failure(error, this.key);
    }
  }

  async fetch(token: string): Promise<FetchedModel> {
    // With lakeFS, read both files through the commit id, never the branch: a
    // branch also shows uncommitted writes, and a commit cannot change between reads.
    const manifestKey = this.options.lakefs === undefined ? this.key : `${token}/${this.pathInRef}`;
    const manifest = await this.get(manifestKey);
    // A manifest that does not parse is the watcher's to refuse; the source only needs the file name.
    const modelFile = parseManifest(manifest.bytes, this.uri).model_file;
    const model = await this.get(posix.join(posix.dirname(manifestKey), modelFile));
    // Without lakeFS the version is the manifest's ETag as read, which may be newer than the probe's.
    const version = this.options.lakefs === undefined ? (manifest.etag ?? token) : token;
    return { manifestBytes: manifest.bytes, modelBytes: model.bytes, revision: version, source: this.uri, token: version };
  }

  /** The lakeFS ref: the first segment of the key. */
  private get ref(): string {
    return this.key.split('/')[0] ?? '';
  }

  /** The key below the ref. */
  private get pathInRef(): string {
    return this.key.split('/').slice(1).join('/');
  }

  private async get(key: string): Promise<{ bytes: Uint8Array; etag: string | undefined }> {
    try {
      const answer = await this.options.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (answer.Body === undefined) throw new ModelSourceError('invalid_response', `${this.where}: empty answer for ${key}`);
      return { bytes: await answer.Body.transformToByteArray(), etag: answer.ETag?.replace(/"/g, '') };
    } catch (error) {
      throw this.failure(error, key);
    }
  }

  /** An error that names endpoint, bucket and key, and nothing the SDK might have echoed. */
  private failure(error: unknown, key: string): ModelSourceError {
    if (error instanceof ModelSourceError) return error;
    const object = `s3://${this.bucket}/${key} at ${this.options.endpoint ?? 'AWS S3'}`;
    if (error instanceof S3ServiceException) {
      const code = error.$metadata.httpStatusCode;
      // HEAD answers carry no body, so the SDK cannot name the error: say the status instead.
      const name = error.name === 'Unknown' || error.name === '' ? `HTTP ${String(code ?? '?')}` : error.name;
      if (code === 404 || error.name === 'NoSuchKey' || error.name === 'NotFound' || error.name === 'NoSuchBucket') {
        return new ModelSourceError('not_found', `${object}: not found (${name})`);
      }
      if (code === 401 || code === 403 || /AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|Forbidden|ExpiredToken/.test(error.name)) {
        return new ModelSourceError('denied', `${object}: access denied (${name}); check the credentials and their rights on bucket ${this.bucket}`);
      }
      return new ModelSourceError('unreachable', `${object}: the store answered ${name}`);
    }
    const name = error instanceof Error ? error.name : 'Error';
    const code = (error as { code?: unknown }).code;
    if (name === 'CredentialsProviderError') {
      return new ModelSourceError('denied', `${object}: no credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, or a web identity)`);
    }
    return new ModelSourceError('unreachable', `${object}: unreachable (${typeof code === 'string' ? code : name})`);
  }
}

import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { getCACertificates } from 'node:tls';

/**
 * The few lakeFS REST calls promotion and rollback make (API v1, basic auth
 * with an access key pair). The key pair comes from the environment only
 * (LAKEFS_ACCESS_KEY_ID, LAKEFS_SECRET_ACCESS_KEY), never from the command
 * line, and the secret never appears in a message.
 */

export interface LakefsSettings {
  /** http(s)://host:port, with or without /api/v1. */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** PEM of the CA that signed an https endpoint's certificate; Node's roots and the system's store when absent. */
  readonly ca?: Buffer;
  readonly timeoutMs?: number;
}

export interface LakefsCommit {
  readonly id: string;
  readonly parents: readonly string[];
  readonly message: string;
}

/** A lakeFS call that failed; the message is one line meant for the user. */
export class LakefsError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** A lakeFS commit id: 64 lower-case hex digits. Other revisions (an S3 ETag, sha256:…) cannot be matched to a branch. */
export function isLakefsCommitId(revision: string): boolean {
  return /^[0-9a-f]{64}$/.test(revision);
}

/** The API base URL of an endpoint; refuses URLs that carry credentials. */
export function apiBase(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new LakefsError(`--lakefs-endpoint must be a URL such as http://lakefs:8000, got ${endpoint}`);
  }
  if (url.username !== '' || url.password !== '') throw new LakefsError('--lakefs-endpoint must not hold credentials: set LAKEFS_ACCESS_KEY_ID and LAKEFS_SECRET_ACCESS_KEY');
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new LakefsError(`--lakefs-endpoint must be http:// or https://, got ${url.protocol}`);
  const path = url.pathname.replace(/\/+$/, '');
  url.pathname = path.endsWith('/api/v1') ? path : `${path}/api/v1`;
  return url;
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|EPROTO/;

export class LakefsApi {
  private readonly base: URL;
  private readonly authorization: string;
  private readonly ca: Buffer | string[] | undefined;

  constructor(private readonly settings: LakefsSettings) {
    this.base = apiBase(settings.endpoint);
    this.ca = settings.ca ?? (this.base.protocol === 'https:' ? trustedRoots() : undefined);
    this.authorization = `Basic ${Buffer.from(`${settings.accessKeyId}:${settings.secretAccessKey}`).toString('base64')}`;
  }

  /** The commit id `branch` points to. */
  async branchHead(repository: string, branch: string): Promise<string> {
    const ref = (await this.call('GET', `/repositories/${enc(repository)}/branches/${enc(branch)}`, undefined, `branch ${branch} of repository ${repository}`)) as { commit_id: string };
    return ref.commit_id;
  }

  async commit(repository: string, id: string): Promise<LakefsCommit> {
    const commit = (await this.call('GET', `/repositories/${enc(repository)}/commits/${enc(id)}`, undefined, `commit ${id} of repository ${repository}`)) as LakefsCommit;
    return { id: commit.id, parents: commit.parents, message: commit.message };
  }

  /** Merges `sourceRef` (a branch or a commit id) into `destination`; returns the merge commit id. */
  async merge(repository: string, sourceRef: string, destination: string, message: string, metadata: Record<string, string>): Promise<string> {
    const result = (await this.call(
      'POST',
      `/repositories/${enc(repository)}/refs/${enc(sourceRef)}/merge/${enc(destination)}`,
      { message, metadata },
      `${sourceRef} or branch ${destination} of repository ${repository}`,
    )) as { reference: string };
    return result.reference;
  }

  /** Records on `branch` a commit undoing `ref` (relative to its parent `parentNumber`, 1-based, for a merge commit). */
  async revert(repository: string, branch: string, ref: string, parentNumber: number): Promise<void> {
    await this.call('POST', `/repositories/${enc(repository)}/branches/${enc(branch)}/revert`, { ref, parent_number: parentNumber }, `branch ${branch} of repository ${repository}`);
  }

  private async call(method: string, path: string, body: unknown, what: string): Promise<unknown> {
    const url = new URL(`${this.base.pathname}${path}`, this.base);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const { status, text } = await this.send(method, url, payload);
    if (status >= 200 && status < 300) return text === '' ? undefined : parseJson(text);
    const message = this.redact(lakefsMessage(text));
    const endpoint = this.base.origin;
    if (status === 401) throw new LakefsError(`lakeFS at ${endpoint} refused the credentials (401): check LAKEFS_ACCESS_KEY_ID and LAKEFS_SECRET_ACCESS_KEY`, status);
    if (status === 403) throw new LakefsError(`lakeFS at ${endpoint} does not let LAKEFS_ACCESS_KEY_ID ${this.settings.accessKeyId} do this (403): ${message}`, status);
    if (status === 404) throw new LakefsError(`lakeFS at ${endpoint}: ${what} not found (${message})`, status);
    throw new LakefsError(`lakeFS at ${endpoint} answered ${status} to ${method} ${path}: ${message}`, status);
  }

  private send(method: string, url: URL, payload: string | undefined): Promise<{ status: number; text: string }> {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const headers: Record<string, string> = { authorization: this.authorization, accept: 'application/json' };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    return new Promise((resolve, reject) => {
      const call = request(url, { method, headers, ca: this.ca, timeout: this.settings.timeoutMs ?? 30_000 }, (response: IncomingMessage) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
        });
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
        response.on('error', reject);
      });
      call.on('timeout', () => call.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      call.on('error', (error: NodeJS.ErrnoException) => {
        const code = error.code ?? error.message;
        const tls = TLS_CODES.test(code) ? '; for a private CA give --lakefs-ca-file PATH' : '';
        reject(new LakefsError(`cannot reach lakeFS at ${url.origin} (${code})${tls}`));
      });
      call.end(payload);
    });
  }

  /** Belt and braces: no lakeFS message should echo the secret, and none reaches the user if it did. */
  private redact(text: string): string {
    return this.settings.secretAccessKey === '' ? text : text.replaceAll(this.settings.secretAccessKey, '<secret>');
  }
}

/**
 * Node's roots (its bundled ones and NODE_EXTRA_CA_CERTS) and the operating
 * system's store: a lakeFS behind a company CA the machine trusts works
 * without --lakefs-ca-file. Node's alone where the system store cannot be read.
 */
function trustedRoots(): string[] | undefined {
  try {
    return [...new Set([...getCACertificates('default'), ...getCACertificates('system')])];
  } catch {
    return undefined;
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Some calls (branch creation) answer plain text.
    return text;
  }
}

/** lakeFS's error message ({"message": …}), or the start of the body. */
function lakefsMessage(text: string): string {
  const parsed = parseJson(text);
  const message = typeof parsed === 'object' && parsed !== null && 'message' in parsed ? String(parsed.message) : text;
  return message.replace(/\s+/g, ' ').trim().slice(0, 300);
}

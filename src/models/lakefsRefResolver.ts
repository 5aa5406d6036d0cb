import { ModelSourceError } from './modelSource.js';

/** Credentials for lakeFS's API: the same access key pair as its S3 gateway. */
export type CredentialsProvider = () => Promise<{ readonly accessKeyId: string; readonly secretAccessKey: string }>;

export interface ResolvedRef {
  readonly commitId: string;
  /** True when the ref is itself a commit id: it can never move. */
  readonly pinned: boolean;
}

/** A lakeFS answer: the JSON body, or the 404 with lakeFS's own message. */
type Answer = { readonly found: true; readonly body: unknown } | { readonly found: false; readonly message: string };

const TIMEOUT_MS = 10_000;
/** A ref, tag or commit answer is well under 4 KiB; anything larger is not lakeFS's. */
const ANSWER_MAX_BYTES = 64 * 1024;
/** lakeFS's messages are one short line. */
const MESSAGE_MAX_CHARS = 200;

/**
 * Resolves a lakeFS ref (branch, tag or commit id) to the commit id it points
 * to, with lakeFS's REST API. Reading a model by commit id, instead of through
 * the branch, serves only committed models, both files from the same commit.
 */
export class LakefsRefResolver {
  /** `apiEndpoint` is the API base, e.g. http://lakefs:8000/api/v1. */
  constructor(
    private readonly apiEndpoint: string,
    private readonly credentials: CredentialsProvider,
  ) {}

  async resolve(repository: string, ref: string): Promise<ResolvedRef> {
    const base = `${this.apiEndpoint}/repositories/${encodeURIComponent(repository)}`;
    const branch = await this.get(`${base}/branches/${encodeURIComponent(ref)}`, repository, ref);
    if (branch.found) return { commitId: commitIdOf(branch.body, 'commit_id', repository, ref), pinned: false };
    const tag = await this.get(`${base}/tags/${encodeURIComponent(ref)}`, repository, ref);
    if (tag.found) return { commitId: commitIdOf(tag.body, 'commit_id', repository, ref), pinned: false };
    const commit = await this.get(`${base}/commits/${encodeURIComponent(ref)}`, repository, ref);
    if (commit.found) return { commitId: commitIdOf(commit.body, 'id', repository, ref), pinned: true };
    // Every lookup also answers 404 when the repository itself is missing: ask
    // once more, so the error names what is really wrong, in lakeFS's words.
    const missingRepository = await this.get(base, repository, ref);
    if (!missingRepository.found) {
      throw new ModelSourceError('not_found', `lakeFS at ${this.apiEndpoint}: repository ${repository} not found (lakeFS: "${missingRepository.message}")`);
    }
    throw new ModelSourceError(
      'not_found',
      `lakeFS at ${this.apiEndpoint}: repository ${repository} has no branch, tag or commit ${ref} (lakeFS: "${[branch.message, tag.message, commit.message].join('", "')}")`,
    );
  }

  private async get(url: string, repository: string, ref: string): Promise<Answer> {
    let credentials: Awaited<ReturnType<CredentialsProvider>>;
    try {
      credentials = await this.credentials();
    } catch {
      throw new ModelSourceError('denied', `lakeFS at ${this.apiEndpoint}: no credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a lakeFS key pair)`);
    }
    const { accessKeyId, secretAccessKey } = credentials;
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { authorization: `Basic ${Buffer.from(`${accessKeyId}:${secretAccessKey}`).toString('base64')}`, accept: 'application/json' },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: unknown } }).cause?.code;
      throw new ModelSourceError('unreachable', `lakeFS at ${this.apiEndpoint}: unreachable while resolving ${repository}/${ref} (${typeof cause === 'string' ? cause : (error as Error).name})`);
    }
    if (response.status === 404) return { found: false, message: await messageOf(response) };
    if (response.status === 401 || response.status === 403) {
      throw new ModelSourceError(
        'denied',
        `lakeFS at ${this.apiEndpoint}: access denied (${response.status}, lakeFS: "${await messageOf(response)}") resolving ${repository}/${ref}; check the credentials`,
      );
    }
    if (!response.ok) {
      throw new ModelSourceError('unreachable', `lakeFS at ${this.apiEndpoint}: answered ${response.status} (lakeFS: "${await messageOf(response)}") resolving ${repository}/${ref}`);
    }
    let text: string | undefined;
    try {
      text = await boundedText(response);
    } catch (error) {
      throw new ModelSourceError('unreachable', `lakeFS at ${this.apiEndpoint}: the answer for ${repository}/${ref} was cut off (${(error as Error).name})`);
    }
    try {
      if (text === undefined) throw new Error('too large');
      return { found: true, body: JSON.parse(text) };
    } catch {
      throw new ModelSourceError('invalid_response', `lakeFS at ${this.apiEndpoint}: the answer for ${repository}/${ref} is not JSON (or over ${ANSWER_MAX_BYTES} bytes)`);
    }
  }
}

/** The body as text, or undefined when it is over ANSWER_MAX_BYTES (the rest is not read). */
async function boundedText(response: Response): Promise<string | undefined> {
  const body = response.body as AsyncIterable<Uint8Array> | null;
  if (body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop early cancels the rest of the stream.
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > ANSWER_MAX_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * lakeFS's own words from an error answer (`{"message": "repository not found"}`),
 * on one line and bounded; a body that is not lakeFS's error shape is summed up, not echoed.
 */
async function messageOf(response: Response): Promise<string> {
  let message: unknown;
  try {
    const text = await boundedText(response);
    message = text === undefined ? undefined : (JSON.parse(text) as { message?: unknown } | null)?.message;
  } catch {
    message = undefined;
  }
  if (typeof message !== 'string' || message.trim() === '') return 'no lakeFS error message';
  const line = message.replace(/\s+/g, ' ').trim();
  return line.length > MESSAGE_MAX_CHARS ? `${line.slice(0, MESSAGE_MAX_CHARS)}…` : line;
}

function commitIdOf(answer: unknown, field: string, repository: string, ref: string): string {
  const value = (answer as Record<string, unknown> | null)?.[field];
  if (typeof value !== 'string' || !/^[0-9a-f]{6,64}$/i.test(value)) {
    throw new ModelSourceError('invalid_response', `lakeFS answered no commit id for ${repository}/${ref}`);
  }
  return value;
}

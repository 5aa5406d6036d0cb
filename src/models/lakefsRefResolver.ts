import { ModelSourceError } from './modelSource.js';

/** Credentials for lakeFS's API: the same access key pair as its S3 gateway. */
export type CredentialsProvider = () => Promise<{ readonly accessKeyId: string; readonly secretAccessKey: string }>;

export interface ResolvedRef {
  readonly commitId: string;
  /** True when the ref is itself a commit id: it can never move. */
  readonly pinned: boolean;
}

const TIMEOUT_MS = 10_000;

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
    if (branch !== undefined) return { commitId: commitIdOf(branch, 'commit_id', repository, ref), pinned: false };
    const tag = await this.get(`${base}/tags/${encodeURIComponent(ref)}`, repository, ref);
    if (tag !== undefined) return { commitId: commitIdOf(tag, 'commit_id', repository, ref), pinned: false };
    const commit = await this.get(`${base}/commits/${encodeURIComponent(ref)}`, repository, ref);
    if (commit !== undefined) return { commitId: commitIdOf(commit, 'id', repository, ref), pinned: true };
    throw new ModelSourceError('not_found', `lakeFS at ${this.apiEndpoint}: repository ${repository} has no branch, tag or commit ${ref}`);
  }

  /** The JSON answer, or undefined on 404. */
  private async get(url: string, repository: string, ref: string): Promise<unknown> {
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
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      throw new ModelSourceError('denied', `lakeFS at ${this.apiEndpoint}: access denied (${response.status}) resolving ${repository}/${ref}; check the credentials`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new ModelSourceError('unreachable', `lakeFS at ${this.apiEndpoint}: answered ${response.status} resolving ${repository}/${ref}`);
    }
    try {
      return await response.json();
    } catch {
      throw new ModelSourceError('invalid_response', `lakeFS at ${this.apiEndpoint}: the answer for ${repository}/${ref} is not JSON`);
    }
  }
}

function commitIdOf(answer: unknown, field: string, repository: string, ref: string): string {
  const value = (answer as Record<string, unknown> | null)?.[field];
  if (typeof value !== 'string' || !/^[0-9a-f]{6,64}$/i.test(value)) {
    throw new ModelSourceError('invalid_response', `lakeFS answered no commit id for ${repository}/${ref}`);
  }
  return value;
}

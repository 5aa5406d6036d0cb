import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/packageRoot.js';
import { MINIO_PASSWORD, MINIO_USER, type MinioServer } from './minio.js';
import type { StoredFile } from './modelStore.js';
import { startOnFreePorts } from './spawnService.js';
import { waitFor } from './waitFor.js';
import { killProcess } from './killProcess.js';

/** The lakeFS release scripts/build-lakefs.sh builds from its Go module source (docs/testing.md, "Which lakeFS runs where"). */
export const LAKEFS_VERSION = 'v0.113.0';
export const LAKEFS_ACCESS_KEY_ID = 'AKIAFRAUDTESTLAKEFS1';
export const LAKEFS_SECRET_ACCESS_KEY = 'fraud-test-lakefs-secret-7d41c9';
const ADMIN = 'fraud-test-admin';
/** Lines of lakeFS's own output kept for a failing test's message. */
const LOG_TAIL_LINES = 50;

/**
 * The lakeFS binary scripts/build-lakefs.sh built: linked from the clone as
 * .tools/lakefs-<version>, kept in the per-user cache keyed by version.
 */
export function lakefsBinary(): string {
  const candidates = [
    join(packageRoot, '.tools', `lakefs-${LAKEFS_VERSION}`),
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'fraud-scoring', `lakefs-${LAKEFS_VERSION}`, 'lakefs'),
  ];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (found === undefined) {
    throw new Error(`lakeFS ${LAKEFS_VERSION} is not built (looked at ${candidates.join(', ')}); run: bash scripts/build-lakefs.sh (npm test does)`);
  }
  return found;
}

/**
 * A real lakeFS server on 127.0.0.1: a local KV store and a local blockstore in
 * a folder of its own, usage stats, audit and version checks off (no internet
 * here), set up through its API (`setup_lakefs`) with a known admin key pair.
 * It can be killed and started again on the same port and data, or frozen
 * (SIGSTOP), to play outages. Writes go the documented way: a work branch,
 * uploads through the S3 gateway (as the pipeline's publish does), a commit,
 * a merge into the served branch.
 */
export class LakefsServer {
  readonly endpoint: string;
  readonly api: string;
  private readonly s3: S3Client;
  private process: ChildProcess | undefined;
  private readonly output: string[] = [];
  private branchCounter = 0;

  private constructor(
    private readonly port: number,
    private readonly dataDir: string,
    private readonly objectStore?: { readonly minio: MinioServer; readonly bucket: string },
  ) {
    this.endpoint = `http://127.0.0.1:${port}`;
    this.api = `${this.endpoint}/api/v1`;
    this.s3 = new S3Client({
      endpoint: this.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: LAKEFS_ACCESS_KEY_ID, secretAccessKey: LAKEFS_SECRET_ACCESS_KEY },
    });
  }

  /**
   * `objectStore`: the repositories' objects go to this MinIO bucket (lakeFS's
   * S3 blockstore, as in production) instead of a local folder.
   */
  static async start(objectStore?: { readonly minio: MinioServer; readonly bucket: string }): Promise<LakefsServer> {
    const binary = lakefsBinary();
    const version = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout;
    if (!version.includes(LAKEFS_VERSION.slice(1))) throw new Error(`${binary} is not lakeFS ${LAKEFS_VERSION}: ${version.trim()}`);
    const server = await startOnFreePorts(1, async ([port]) => {
      const started = new LakefsServer(port as number, await mkdtemp(join(tmpdir(), 'fraud-lakefs-')), objectStore);
      await writeFile(join(started.dataDir, 'config.yaml'), started.config());
      try {
        await started.resume();
      } catch (error) {
        await started.kill();
        throw error;
      }
      return started;
    });
    await server.call('POST', '/setup_lakefs', { username: ADMIN, key: { access_key_id: LAKEFS_ACCESS_KEY_ID, secret_access_key: LAKEFS_SECRET_ACCESS_KEY } }, [200]);
    return server;
  }

  /** What a service needs to read models from this server: the S3 gateway, the API, the key pair. */
  env(repository: string, ref = 'main', extra: Record<string, string> = {}): Record<string, string> {
    return {
      FRAUD_S3_ENDPOINT: this.endpoint,
      FRAUD_S3_REGION: 'us-east-1',
      FRAUD_LAKEFS_API_ENDPOINT: this.api,
      AWS_ACCESS_KEY_ID: LAKEFS_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: LAKEFS_SECRET_ACCESS_KEY,
      FRAUD_BINARY_MODEL_URI: `s3://${repository}/${ref}/models/fraud-binary.json`,
      FRAUD_SCENARIO_MODEL_URI: `s3://${repository}/${ref}/models/fraud-scenario.json`,
      FRAUD_MODEL_POLL_SECONDS: '1',
      FRAUD_MODEL_RETRY_MAX_SECONDS: '1',
      ...extra,
    };
  }

  /** Starts (or starts again, after `kill`) the server on its port and data, and waits until it is healthy. */
  async resume(): Promise<void> {
    const child = spawn(lakefsBinary(), ['run', '--config', join(this.dataDir, 'config.yaml')], {
      // HOME too: lakeFS resolves ~ in paths it is not given.
      env: { PATH: process.env.PATH ?? '', HOME: this.dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process = child;
    const keep = (chunk: Buffer): void => {
      this.output.push(...chunk.toString('utf8').split('\n').filter((line) => line.trim() !== ''));
      this.output.splice(0, Math.max(0, this.output.length - LOG_TAIL_LINES));
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    await waitFor(
      'lakeFS to be healthy',
      async () => {
        if (child.exitCode !== null) throw new Error(`lakeFS exited with ${child.exitCode}:\n${this.logTail()}`);
        return this.healthy();
      },
      30_000,
      50,
    );
  }

  /** True when the server answers its health check (within a second: a frozen server does not). */
  async healthy(): Promise<boolean> {
    try {
      return (await fetch(`${this.api}/healthcheck`, { signal: AbortSignal.timeout(1_000) })).status === 204;
    } catch {
      return false;
    }
  }

  /** SIGKILL: an outage, not a shutdown. */
  async kill(): Promise<void> {
    await killProcess(this.process);
    this.process = undefined;
  }

  /** SIGSTOP: the process holds its port and accepts connections, and answers nothing. */
  freeze(): void {
    this.process?.kill('SIGSTOP');
  }

  thaw(): void {
    this.process?.kill('SIGCONT');
  }

  /** The last lines lakeFS printed, for failure messages. */
  logTail(): string {
    return this.output.join('\n');
  }

  async stop(): Promise<void> {
    this.thaw();
    await this.kill();
    this.s3.destroy();
    await rm(this.dataDir, { recursive: true, force: true });
  }

  async createRepository(repository: string, defaultBranch = 'main'): Promise<void> {
    const namespace = this.objectStore === undefined ? `local://${repository}` : `s3://${this.objectStore.bucket}/${repository}`;
    await this.call('POST', '/repositories', { name: repository, storage_namespace: namespace, default_branch: defaultBranch }, [201]);
  }

  async createBranch(repository: string, branch: string, source: string): Promise<void> {
    await this.call('POST', `/repositories/${repository}/branches`, { name: branch, source }, [201]);
  }

  async deleteBranch(repository: string, branch: string): Promise<void> {
    await this.call('DELETE', `/repositories/${repository}/branches/${encodeURIComponent(branch)}`, undefined, [204]);
  }

  /** Uploads to a branch through the S3 gateway, like the pipeline's publish: staged, not committed. */
  async upload(repository: string, branch: string, files: readonly StoredFile[]): Promise<void> {
    for (const file of files) {
      await this.s3.send(new PutObjectCommand({ Bucket: repository, Key: `${branch}/${file.path}`, Body: file.bytes }));
    }
  }

  /** Commits what is staged on `branch`; returns the commit id. */
  async commit(repository: string, branch: string, message: string): Promise<string> {
    const commit = (await this.call('POST', `/repositories/${repository}/branches/${encodeURIComponent(branch)}/commits`, { message }, [201])) as { id: string };
    return commit.id;
  }

  /** Merges `source` into `destination`; returns the merge commit id. */
  async merge(repository: string, source: string, destination: string, message: string): Promise<string> {
    const result = (await this.call('POST', `/repositories/${repository}/refs/${encodeURIComponent(source)}/merge/${encodeURIComponent(destination)}`, { message }, [200])) as {
      reference: string;
    };
    return result.reference;
  }

  async tag(repository: string, tag: string, ref: string): Promise<string> {
    const created = (await this.call('POST', `/repositories/${repository}/tags`, { id: tag, ref }, [201])) as { commit_id: string };
    return created.commit_id;
  }

  async deleteTag(repository: string, tag: string): Promise<void> {
    await this.call('DELETE', `/repositories/${repository}/tags/${encodeURIComponent(tag)}`, undefined, [204]);
  }

  /** The commit id `branch` points to. */
  async head(repository: string, branch = 'main'): Promise<string> {
    const ref = (await this.call('GET', `/repositories/${repository}/branches/${encodeURIComponent(branch)}`, undefined, [200])) as { commit_id: string };
    return ref.commit_id;
  }

  /**
   * Publishes the way docs/lakefs-workflow.md and deploy/lakefs/publish-version.py
   * do: a work branch off `branch`, the files uploaded in order (each .onnx
   * before its manifest), a commit, a merge into `branch`, the work branch
   * deleted. Returns the merge commit, `branch`'s new head.
   */
  async publish(repository: string, files: readonly StoredFile[], message: string, branch = 'main'): Promise<string> {
    const work = `publish-${process.pid}-${++this.branchCounter}`;
    await this.createBranch(repository, work, branch);
    try {
      await this.upload(repository, work, files);
      await this.commit(repository, work, message);
      return await this.merge(repository, work, branch, `Merge ${work}: ${message}`);
    } finally {
      await this.deleteBranch(repository, work);
    }
  }

  /** A commit's parents (the destination's previous head first, for a merge) and message. */
  async commitOf(repository: string, id: string): Promise<{ parents: string[]; message: string }> {
    return (await this.call('GET', `/repositories/${repository}/commits/${encodeURIComponent(id)}`, undefined, [200])) as { parents: string[]; message: string };
  }

  /** An object's content at `ref` (a branch or commit id), parsed when it is JSON (a manifest). */
  async object(repository: string, ref: string, path: string): Promise<unknown> {
    return this.call('GET', `/repositories/${repository}/refs/${encodeURIComponent(ref)}/objects?path=${encodeURIComponent(path)}`, undefined, [200]);
  }

  /** How many API calls of `operation` (e.g. GetBranch) lakeFS answered, whatever the status, from its own /metrics. */
  async apiCalls(operation: string): Promise<number> {
    const text = await (await fetch(`${this.endpoint}/metrics`)).text();
    let total = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith('api_request_duration_seconds_count{') && line.includes(`operation="${operation}"`)) total += Number(line.split(' ').pop());
    }
    return total;
  }

  /** One API call with the admin key pair; any status outside `expected` throws with lakeFS's message. */
  private async call(method: string, path: string, body: unknown, expected: readonly number[]): Promise<unknown> {
    const authorization = `Basic ${Buffer.from(`${LAKEFS_ACCESS_KEY_ID}:${LAKEFS_SECRET_ACCESS_KEY}`).toString('base64')}`;
    const response = await fetch(`${this.api}${path}`, {
      method,
      headers: { authorization, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    if (!expected.includes(response.status)) throw new Error(`lakeFS ${method} ${path}: ${response.status} ${text.slice(0, 300)}`);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // createBranch answers the new branch's commit id as plain text.
      return text;
    }
  }

  private config(): string {
    const data = this.dataDir;
    return [
      `listen_address: 127.0.0.1:${this.port}`,
      'logging: { format: json, level: WARN }',
      `database: { type: local, local: { path: ${data}/metadata } }`,
      this.objectStore === undefined
        ? `blockstore: { type: local, local: { path: ${data}/block } }`
        : `blockstore: { type: s3, s3: { endpoint: "${this.objectStore.minio.endpoint}", force_path_style: true, region: us-east-1, credentials: { access_key_id: ${MINIO_USER}, secret_access_key: ${MINIO_PASSWORD} } } }`,
      `committed: { local_cache: { dir: ${data}/cache } }`,
      'auth: { encrypt: { secret_key: fraud-test-encrypt-key } }',
      // No internet here: no usage stats, no audit or latest-version calls.
      'stats: { enabled: false }',
      'email_subscription: { enabled: false }',
      'security: { audit_check_url: "", check_latest_version: false }',
      'ui: { enabled: false }',
      '',
    ].join('\n');
  }
}

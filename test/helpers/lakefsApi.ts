import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { packageRoot } from '../../src/packageRoot.js';

const RECORDED = join(packageRoot, 'test', 'fixtures', 'lakefs');

/**
 * Replays lakeFS's branch, tag and commit lookups from recorded answers
 * (test/fixtures/lakefs), checking Basic authentication like lakeFS does.
 * `branches` maps branch name → commit id and can change while it runs.
 */
export class RecordedLakefsApi {
  readonly branches = new Map<string, string>();
  readonly commits = new Set<string>();
  readonly requests: string[] = [];
  private server: Server | undefined;

  constructor(
    private readonly accessKeyId: string,
    private readonly secretAccessKey: string,
  ) {
    const branch = JSON.parse(readFileSync(join(RECORDED, 'branch-main.json'), 'utf8')) as { id: string; commit_id: string };
    this.branches.set(branch.id, branch.commit_id);
    this.commits.add(branch.commit_id);
  }

  get recordedCommit(): string {
    return this.branches.get('main') ?? '';
  }

  async start(): Promise<string> {
    const expected = `Basic ${Buffer.from(`${this.accessKeyId}:${this.secretAccessKey}`).toString('base64')}`;
    const commitTemplate = JSON.parse(readFileSync(join(RECORDED, 'commit.json'), 'utf8')) as Record<string, unknown>;
    this.server = createServer((request, response) => {
      this.requests.push(`${request.method ?? ''} ${request.url ?? ''}`);
      const reply = (status: number, body: unknown): void => {
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      if (request.headers.authorization !== expected) {
        reply(401, { message: 'error authenticating request' });
        return;
      }
      const match = /^\/api\/v1\/repositories\/([^/]+)\/(branches|tags|commits)\/([^/?]+)$/.exec(request.url ?? '');
      if (match === null || match[1] !== 'fraud-models') {
        reply(404, { message: 'not found' });
        return;
      }
      const [, , kind, ref] = match as unknown as [string, string, string, string];
      const commitId = this.branches.get(ref);
      if (kind === 'branches' && commitId !== undefined) reply(200, { id: ref, commit_id: commitId });
      else if (kind === 'commits' && this.commits.has(ref)) reply(200, { ...commitTemplate, id: ref });
      else reply(404, { message: `${kind.slice(0, -1)} not found` });
    });
    await new Promise<void>((resolveListen) => this.server?.listen(0, '127.0.0.1', resolveListen));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/v1`;
  }

  async stop(): Promise<void> {
    await new Promise((resolveClose) => this.server?.close(resolveClose));
  }
}

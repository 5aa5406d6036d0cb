import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createLogger } from '../../src/observability/logger.js';
import { RedisStateStore, type RedisStateStoreOptions } from '../../src/state/redisStateStore.js';
import { freePort } from './spawnService.js';
import { tool } from './tools.js';
import { waitFor } from './waitFor.js';
import { killProcess } from './killProcess.js';

export interface RedisServerOptions {
  /** requirepass: clients must send it. */
  readonly password?: string;
  /** Cluster mode, one node owning every slot: scripts touching two slots fail with CROSSSLOT. */
  readonly cluster?: boolean;
}

/**
 * A real redis-server (Debian's package, installed by scripts/install-tools.sh)
 * on 127.0.0.1 with a random port and no persistence. It can be killed
 * (SIGKILL) and started again on the same port, or frozen (SIGSTOP) and
 * thawed, to play outages; `admin` is a plain client for checks.
 */
export class RedisServer {
  readonly url: string;
  readonly admin: Redis;
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly options: RedisServerOptions,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
    this.admin = new Redis(port, '127.0.0.1', { password: options.password, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    // The admin client reconnects on its own after restarts; its errors during outages are expected.
    this.admin.on('error', () => undefined);
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), await mkdtemp(join(tmpdir(), 'fraud-redis-')), options);
    await server.resume();
    await server.admin.connect();
    return server;
  }

  /** Starts the server (again) on its port, empty: it keeps nothing on disk. */
  async resume(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--loglevel', 'warning'];
    if (this.options.password !== undefined) args.push('--requirepass', this.options.password);
    if (this.options.cluster === true) args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(this.dir, `nodes-${Date.now()}.conf`));
    const child = spawn(tool('redis-server'), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.process = child;
    const exited = new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
    await Promise.race([
      waitFor('redis-server to answer PING', () => this.ping(), 15_000, 25),
      exited.then((code) => {
        throw new Error(`redis-server exited with ${String(code)} before answering`);
      }),
    ]);
    if (this.options.cluster === true) {
      await this.command('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
      await waitFor('the cluster to be ok', async () => (await this.command('CLUSTER', 'INFO')).includes('cluster_state:ok'), 15_000, 50);
    }
  }

  /** Kills the server (SIGKILL: an outage, not a shutdown); its data is gone. */
  async kill(): Promise<void> {
    await killProcess(this.process);
    this.process = undefined;
  }

  /** SIGSTOP: the server keeps its connections but answers nothing. */
  freeze(): void {
    this.process?.kill('SIGSTOP');
  }

  thaw(): void {
    this.process?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    this.thaw();
    await this.kill();
    this.admin.disconnect();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** One command on a fresh connection (works while the admin client reconnects). */
  async command(...args: string[]): Promise<string> {
    const client = new Redis(this.port, '127.0.0.1', { password: this.options.password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const [name, ...rest] = args;
      const reply = await client.call(name ?? 'PING', ...rest);
      return typeof reply === 'string' ? reply : JSON.stringify(reply);
    } finally {
      client.disconnect();
    }
  }

  private async ping(): Promise<boolean> {
    try {
      return (await this.command('PING')) === 'PONG';
    } catch (error) {
      // A password-protected server answering NOAUTH is up.
      return error instanceof Error && /NOAUTH|WRONGPASS/.test(error.message) && this.options.password !== undefined;
    }
  }
}

/**
 * A state store on `server` (no password, a 300 s future margin, silent logs),
 * started and ready; the caller closes it.
 */
export async function startRedisStateStore(
  server: RedisServer,
  options: Pick<RedisStateStoreOptions, 'keyPrefix' | 'latenessSeconds' | 'historyDays' | 'timeoutMs' | 'onRepair'>,
): Promise<RedisStateStore> {
  const store = new RedisStateStore({ url: server.url, password: undefined, maxFutureSeconds: 300, logger: createLogger('silent'), ...options });
  store.start();
  await store.ready;
  return store;
}

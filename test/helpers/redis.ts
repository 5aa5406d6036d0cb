import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createLogger } from '../../src/observability/logger.js';
import { RedisStateStore, type RedisStateStoreOptions } from '../../src/state/redisStateStore.js';
import { freePort, startOnFreePorts } from './spawnService.js';
import { runTool, tool } from './tools.js';
import { waitFor } from './waitFor.js';
import { killProcess } from './killProcess.js';

export interface RedisServerOptions {
  /** requirepass: clients must send it. */
  readonly password?: string;
  /** Cluster mode, one node owning every slot: scripts touching two slots fail with CROSSSLOT. */
  readonly cluster?: boolean;
  /** More redis-server arguments, e.g. ['--maxmemory-policy', 'allkeys-lru'] or ['--rename-command', 'CONFIG', '']. */
  readonly args?: readonly string[];
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
    const dir = await mkdtemp(join(tmpdir(), 'fraud-redis-'));
    return startOnFreePorts(1, async ([port]) => {
      const server = new RedisServer(port as number, dir, options);
      try {
        await server.resume();
      } catch (error) {
        await server.kill();
        throw error;
      }
      await server.admin.connect();
      return server;
    });
  }

  /** Starts the server (again) on its port, empty: it keeps nothing on disk. */
  async resume(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--loglevel', 'warning'];
    if (this.options.password !== undefined) args.push('--requirepass', this.options.password);
    if (this.options.args !== undefined) args.push(...this.options.args);
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
  options: Pick<RedisStateStoreOptions, 'keyPrefix' | 'latenessSeconds' | 'historyDays' | 'timeoutMs' | 'onRepair'> &
    Partial<Pick<RedisStateStoreOptions, 'waitReplicas' | 'onFailure' | 'onScoresNotKept'>>,
): Promise<RedisStateStore> {
  const store = new RedisStateStore({ url: server.url, password: undefined, maxFutureSeconds: 300, logger: createLogger('silent', { write: () => undefined }), ...options });
  store.start();
  await store.ready;
  return store;
}

/**
 * Node timeout of the test cluster: a primary silent this long is failed over
 * (Redis's default is 15 s); long enough that a busy machine does not fail a
 * live primary over.
 */
const CLUSTER_NODE_TIMEOUT_MS = 2_000;

/**
 * A real Redis Cluster of 6 redis-server processes on 127.0.0.1 (3 primaries,
 * 3 replicas), created by `redis-cli --cluster create … --cluster-replicas 1`,
 * with a short node timeout so that a killed primary's replica is promoted in
 * a few seconds. Every node listens on a free port with its cluster bus on
 * another (below 55535, where Redis's default bus port, port + 10000, would
 * not fit). Nothing is kept on disk.
 */
export class RedisCluster {
  private readonly processes = new Map<number, ChildProcess>();

  private constructor(
    readonly ports: readonly number[],
    private readonly dir: string,
  ) {}

  /** The URL of one node, as FRAUD_REDIS_URL names a cluster. */
  get url(): string {
    return `redis://127.0.0.1:${this.ports[0] as number}`;
  }

  static async start(): Promise<RedisCluster> {
    const ports: number[] = [];
    const busPorts: number[] = [];
    // Bus ports from the low range, so that port + 10000 never matters; all distinct.
    while (ports.length < 6) {
      const port = await freePort();
      const bus = await freePort();
      if (bus >= 55_535 || port === bus || ports.includes(port) || ports.includes(bus) || busPorts.includes(port) || busPorts.includes(bus)) continue;
      ports.push(port);
      busPorts.push(bus);
    }
    const cluster = new RedisCluster(ports, await mkdtemp(join(tmpdir(), 'fraud-redis-cluster-')));
    try {
      await Promise.all(ports.map((port, index) => cluster.startNode(port, busPorts[index] as number)));
      const created = await runTool('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes']);
      if (created.code !== 0) throw new Error(`redis-cli --cluster create failed (${created.code}): ${(created.stdout + created.stderr).slice(-2000)}`);
      await cluster.waitUntilOk(ports);
      // Every replica has loaded its primary's (empty) data set and follows it.
      await waitFor('every replica in sync', async () => {
        for (const port of ports) {
          const info = await nodeCommand(port, 'INFO', 'replication');
          if (info.includes('role:slave') && !info.includes('master_link_status:up')) return false;
        }
        return true;
      }, 30_000, 50);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** The port of the primary serving `key`'s slot, and of its replica, from CLUSTER SHARDS of a live node. */
  async shardOf(key: string, askPort: number = this.ports[0] as number): Promise<{ primary: number; replicas: number[] }> {
    const slot = Number(await nodeCommand(askPort, 'CLUSTER', 'KEYSLOT', key));
    for (const line of (await nodeCommand(askPort, 'CLUSTER', 'NODES')).split('\n')) {
      const [, address, flags, , , , , state, ...ranges] = line.split(' ');
      if (address === undefined || flags === undefined || !flags.includes('master') || flags.includes('fail') || state !== 'connected') continue;
      const owns = ranges.some((range) => {
        const [from, to] = range.split('-').map(Number);
        return from !== undefined && slot >= from && slot <= (to ?? from);
      });
      if (!owns) continue;
      const primary = Number(/:(\d+)@/.exec(address)?.[1]);
      const id = line.split(' ')[0] ?? '';
      const replicas = (await nodeCommand(askPort, 'CLUSTER', 'NODES'))
        .split('\n')
        .filter((other) => other.split(' ')[3] === id)
        .map((other) => Number(/:(\d+)@/.exec(other.split(' ')[1] ?? '')?.[1]));
      return { primary, replicas };
    }
    throw new Error(`no live primary serves slot ${slot}`);
  }

  /** SIGKILL one node: an outage, not a shutdown. */
  async kill(port: number): Promise<void> {
    await killProcess(this.processes.get(port));
    this.processes.delete(port);
  }

  /** Until every live node says cluster_state:ok (after a failover: the replica promoted and known to all). */
  async waitUntilOk(ports: readonly number[] = [...this.processes.keys()], timeoutMs = 30_000): Promise<void> {
    await waitFor(
      'cluster_state:ok on every node',
      async () => {
        for (const port of ports) if (!(await nodeCommand(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
        return true;
      },
      timeoutMs,
      50,
    );
  }

  /** One command on one node, on a fresh connection. */
  command(port: number, ...args: string[]): Promise<string> {
    return nodeCommand(port, ...args);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.processes.keys()].map((port) => this.kill(port)));
    await rm(this.dir, { recursive: true, force: true });
  }

  private async startNode(port: number, busPort: number): Promise<void> {
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--loglevel', 'warning',
      '--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-config-file', join(this.dir, `nodes-${port}.conf`),
      '--cluster-node-timeout', String(CLUSTER_NODE_TIMEOUT_MS),
      // A replica may always take over, however long it was cut off (the tests kill primaries on purpose).
      '--cluster-replica-validity-factor', '0',
    ];
    const child = spawn(tool('redis-server'), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.processes.set(port, child);
    const exited = new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
    await Promise.race([
      waitFor(`redis-server on ${port} to answer PING`, async () => (await nodeCommand(port, 'PING').catch(() => '')) === 'PONG', 15_000, 25),
      exited.then((code) => {
        throw new Error(`redis-server on ${port} exited with ${String(code)} before answering`);
      }),
    ]);
  }
}

async function nodeCommand(port: number, ...args: string[]): Promise<string> {
  const client = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const [name, ...rest] = args;
    const reply = await client.call(name ?? 'PING', ...rest);
    return typeof reply === 'string' ? reply : typeof reply === 'number' ? String(reply) : JSON.stringify(reply);
  } finally {
    client.disconnect();
  }
}


/**
 * Sentinel's failure detection in the test group: a primary silent this long
 * is failed over (Redis's default is 30 s); long enough that a busy machine
 * does not fail a live primary over.
 */
const SENTINEL_DOWN_AFTER_MS = 1_000;
const SENTINEL_FAILOVER_TIMEOUT_MS = 5_000;

/**
 * A real Redis Sentinel deployment on 127.0.0.1: a primary, one replica
 * (`--replicaof`) and `sentinels` Sentinels (`redis-server <conf> --sentinel`,
 * each config written in the group's temporary directory) monitoring the
 * primary as `name` with a quorum of 1 and a short down-after, so that a
 * killed primary's replica is promoted in a few seconds. The data nodes
 * require `password`, the Sentinels `sentinelPassword`. Nothing is kept on
 * disk but the Sentinels' own configs.
 */
export class RedisSentinelGroup {
  readonly name = 'fraud-primary';
  readonly password = 'data-secret';
  readonly sentinelPassword = 'sentinel-secret';
  private readonly processes = new Map<number, ChildProcess>();

  private constructor(
    readonly primaryPort: number,
    readonly replicaPort: number,
    readonly sentinelPorts: readonly number[],
    private readonly dir: string,
  ) {}

  /** FRAUD_REDIS_SENTINELS for this group. */
  get sentinels(): string {
    return this.sentinelPorts.map((port) => `127.0.0.1:${port}`).join(',');
  }

  static async start(sentinels = 1): Promise<RedisSentinelGroup> {
    const ports: number[] = [];
    while (ports.length < 2 + sentinels) {
      const port = await freePort();
      if (!ports.includes(port)) ports.push(port);
    }
    const [primary, replica, ...sentinelPorts] = ports as [number, number, ...number[]];
    const group = new RedisSentinelGroup(primary, replica, sentinelPorts, await mkdtemp(join(tmpdir(), 'fraud-redis-sentinel-')));
    try {
      const auth = ['--requirepass', group.password, '--masterauth', group.password];
      await group.startNode(primary, auth);
      await group.startNode(replica, [...auth, '--replicaof', '127.0.0.1', String(primary)]);
      await group.waitInSync();
      for (const port of sentinelPorts) {
        const conf = join(group.dir, `sentinel-${port}.conf`);
        await writeFile(
          conf,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `dir ${group.dir}`,
            `requirepass ${group.sentinelPassword}`,
            `sentinel monitor ${group.name} 127.0.0.1 ${primary} 1`,
            `sentinel auth-pass ${group.name} ${group.password}`,
            `sentinel down-after-milliseconds ${group.name} ${SENTINEL_DOWN_AFTER_MS}`,
            `sentinel failover-timeout ${group.name} ${SENTINEL_FAILOVER_TIMEOUT_MS}`,
            '',
          ].join('\n'),
        );
        await group.startNode(port, ['--sentinel'], conf);
      }
      // Every Sentinel knows the replica (it can fail over to it) and sees it up.
      await waitFor('every Sentinel to know the replica', async () => {
        for (const port of sentinelPorts) {
          const replicas = await group.sentinelCommand(port, 'SENTINEL', 'REPLICAS', group.name);
          if (!replicas.includes(`"${replica}"`) || /s_down|disconnected/.test(replicas)) return false;
        }
        return true;
      }, 30_000, 50);
    } catch (error) {
      await group.stop();
      throw error;
    }
    return group;
  }

  /** The primary's port as a Sentinel names it (SENTINEL get-master-addr-by-name). */
  async primaryAsSentinelSays(sentinelPort: number = this.sentinelPorts[0] as number): Promise<number> {
    const reply = JSON.parse(await this.sentinelCommand(sentinelPort, 'SENTINEL', 'get-master-addr-by-name', this.name)) as [string, string];
    return Number(reply[1]);
  }

  /** Until `replica` has everything `primary` wrote (its replication offset caught up). */
  async waitInSync(primaryPort = this.primaryPort, replicaPort = this.replicaPort): Promise<void> {
    await waitFor('the replica to catch up with the primary', async () => {
      const primary = await this.command(primaryPort, 'INFO', 'replication');
      const replica = await this.command(replicaPort, 'INFO', 'replication');
      const written = /master_repl_offset:(\d+)/.exec(primary)?.[1];
      return replica.includes('master_link_status:up') && written !== undefined && /slave_repl_offset:(\d+)/.exec(replica)?.[1] === written;
    }, 30_000, 25);
  }

  /** SIGKILL one node: an outage, not a shutdown. */
  async kill(port: number): Promise<void> {
    await killProcess(this.processes.get(port));
    this.processes.delete(port);
  }

  /** SIGSTOP one node: it keeps its connections but answers nothing (a hung or cut-off primary). */
  freeze(port: number): void {
    this.processes.get(port)?.kill('SIGSTOP');
  }

  /** One command on a data node, on a fresh connection. */
  command(port: number, ...args: string[]): Promise<string> {
    return passwordCommand(port, this.password, args);
  }

  sentinelCommand(port: number, ...args: string[]): Promise<string> {
    return passwordCommand(port, this.sentinelPassword, args);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.processes.keys()].map((port) => this.kill(port)));
    await rm(this.dir, { recursive: true, force: true });
  }

  private async startNode(port: number, extra: readonly string[], conf?: string): Promise<void> {
    const args = [...(conf === undefined ? [] : [conf]), '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--loglevel', 'warning', ...extra];
    const child = spawn(tool('redis-server'), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.processes.set(port, child);
    const exited = new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
    const password = conf === undefined ? this.password : this.sentinelPassword;
    await Promise.race([
      waitFor(`redis-server on ${port} to answer PING`, async () => (await passwordCommand(port, password, ['PING']).catch(() => '')) === 'PONG', 15_000, 25),
      exited.then((code) => {
        throw new Error(`redis-server on ${port} exited with ${String(code)} before answering`);
      }),
    ]);
  }
}

async function passwordCommand(port: number, password: string, args: readonly string[]): Promise<string> {
  const client = new Redis(port, '127.0.0.1', { password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const [name, ...rest] = args;
    const reply = await client.call(name ?? 'PING', ...rest);
    return typeof reply === 'string' ? reply : typeof reply === 'number' ? String(reply) : JSON.stringify(reply);
  } finally {
    client.disconnect();
  }
}

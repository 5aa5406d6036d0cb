import { performance } from 'node:perf_hooks';
import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import { RedisScript, isCluster, ReplicasBehindError, type CommandBatch, type Durability, type PlainForm } from './redisCommands.js';
import { RedisAvailability } from './redisAvailability.js';
import { RedisTurns } from './redisTurns.js';
import { createRedisClient, sentinelProblem, type RedisSentinelOptions } from './redisClient.js';
import { StateUnavailableError } from './stateStore.js';

export { CommandBatch, RedisScript } from './redisCommands.js';

/** Why a Redis operation failed, for fraud_state_errors_total{reason}. */
export type RedisFailureReason = 'timeout' | 'unavailable' | 'overloaded' | 'out_of_memory' | 'error' | 'replicas_behind';

export interface RedisConnectionOptions {
  /** redis:// or rediss:// URL, without a password. */
  readonly url: string;
  /** From FRAUD_REDIS_PASSWORD only; never logged. */
  readonly password: string | undefined;
  /** A Redis Cluster reached through the URL's node (FRAUD_REDIS_CLUSTER): commands go to each key's primary. */
  readonly cluster?: boolean;
  /** Redis Sentinel names the primary (FRAUD_REDIS_SENTINELS); `url` is not used then. */
  readonly sentinel?: RedisSentinelOptions;
  /**
   * Longest Redis may stay silent on one round trip before the operation
   * fails (FRAUD_REDIS_TIMEOUT_MS): counted from when the commands are
   * written, and only once this process has read what arrived.
   */
  readonly timeoutMs: number;
  readonly logger: Logger;
  /**
   * Commands sent and not yet answered, beyond which new operations fail at
   * once: while Redis is frozen, work waiting for it stays bounded.
   */
  readonly maxPendingCommands?: number;
  /**
   * Replicas that must confirm a round trip's writes before it succeeds
   * (FRAUD_REDIS_WAIT_REPLICAS; WAIT after each node's commands); 0 for none.
   */
  readonly waitReplicas?: number;
  /** Told of every failed operation. */
  readonly onFailure?: (reason: RedisFailureReason) => void;
  /** Told when Redis stops or starts answering. */
  readonly onAvailability?: (available: boolean) => void;
}

const DEFAULT_MAX_PENDING_COMMANDS = 100_000;

/**
 * One connection to Redis (a single server, or a Cluster's primaries) that
 * fails fast: no offline queue (an operation while disconnected fails at
 * once), a bound on how long Redis may stay silent on a round trip, a bound
 * on commands waiting for answers, and a socket that is dropped and
 * reconnected when Redis stops answering altogether (a frozen or partitioned
 * server), so nothing ever hangs.
 *
 * The commands of all operations started in the same event-loop turn go out
 * together (redisTurns.ts). Scripts run by EVALSHA; all are loaded on each
 * connection (each primary of a Cluster), and a NOSCRIPT answer (a flushed
 * script cache, a promoted replica) is repaired by sending the script's
 * source once.
 *
 * Outages are reported by redisAvailability.ts (one line each), never with
 * the password: ioredis attaches a failed command's arguments (AUTH carries
 * the password) to its errors, so only messages are logged.
 */
export class RedisConnection {
  readonly client: Redis | Cluster;
  private readonly scripts: RedisScript[] = [];
  private readonly turns: RedisTurns;
  /** Failures made with `counted` false, not counted yet: see countFailure. */
  private readonly uncounted = new WeakMap<StateUnavailableError, RedisFailureReason>();
  private readonly availability: RedisAvailability;
  /** When bytes last came from Redis (performance.now()): a round trip fails only after this much silence. */
  private lastHeard = 0;
  private readonly watched = new WeakSet();
  private warnedCluster = false;
  private readonly maxPendingCommands: number;
  private readonly durability: Durability | undefined;
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly options: RedisConnectionOptions) {
    this.maxPendingCommands = options.maxPendingCommands ?? DEFAULT_MAX_PENDING_COMMANDS;
    const replicas = options.waitReplicas ?? 0;
    // Half the round trip's bound: the confirmation (or its absence) arrives before the round trip times out.
    this.durability = replicas > 0 ? { replicas, timeoutMs: Math.max(1, Math.floor(options.timeoutMs / 2)) } : undefined;
    const redis = options.sentinel === undefined ? describeUrl(options.url) : `sentinel:${options.sentinel.name}`;
    this.log = options.logger.child({ component: 'redis', redis, ...(options.cluster === true ? { cluster: true } : {}) });
    this.availability = new RedisAvailability(this.log, options.cluster === true, options.onAvailability);
    this.client = createRedisClient(options);
    this.turns = new RedisTurns({
      client: this.client,
      durability: this.durability,
      // Redis answered when every node did (an error reply included); a node that failed fails its operations.
      onAnswered: (nodes) => {
        if (nodes.every((node) => node.answered)) this.availability.answered();
      },
    });
    this.client.on('ready', () => {
      if (!isCluster(this.client)) {
        this.watch(this.client);
        this.checkClusterSupport(this.client);
      }
      // A Cluster is ready once it knows its slots; each primary's connection opens on its first command.
      void this.loadScripts().then(() => {
        this.availability.answered();
      });
    });
    this.client.on('error', (error: Error) => {
      this.availability.unavailable(error.message);
    });
    const sentinel = options.sentinel;
    if (sentinel !== undefined) {
      // A Sentinel that cannot name the primary: said before ioredis's "All sentinels are unreachable".
      this.client.on('sentinelError', (error: Error) => {
        this.availability.unavailable(sentinelProblem(error.message, sentinel.name));
      });
    }
    this.client.on('close', () => {
      if (!this.closed) this.availability.unavailable('connection closed');
    });
    if (isCluster(this.client)) {
      // A primary that comes up (a promoted replica) has no scripts yet: NOSCRIPT would find out, this is sooner.
      this.client.on('+node', (node: Redis) => {
        void this.loadScriptsOn(node);
        this.watch(node);
        node.on('ready', () => {
          this.watch(node);
        });
      });
    }
  }

  /** Starts connecting; never throws: an unreachable Redis is logged and retried. */
  connect(): void {
    this.client.connect().catch((error: unknown) => {
      this.availability.unavailable(messageOf(error));
    });
  }

  /** A script this connection loads into Redis on every (re)connection; `plain`, the command it wraps, if it only wraps one. */
  script(lua: string, plain?: PlainForm): RedisScript {
    const script = new RedisScript(lua, plain);
    this.scripts.push(script);
    if (script.grouped !== undefined) this.scripts.push(script.grouped);
    return script;
  }

  get isAvailable(): boolean {
    return this.availability.isAvailable;
  }

  /** Resolves when Redis has answered once (the service is not ready before). */
  get ready(): Promise<void> {
    return this.availability.ready;
  }

  get pending(): number {
    return this.turns.pendingCalls;
  }

  /**
   * Adds `commands` commands (through `build`, synchronously) to this turn's
   * pipeline and returns their answers, in order. Fails with
   * StateUnavailableError at once when Redis is not connected or too much
   * already waits for it, and with an error when Redis answers one with an
   * error. The answer is not awaited here: see `within`. `counted` false:
   * a failure is counted only when given to `countFailure` (see there).
   */
  send(commands: number, build: (batch: CommandBatch) => void, counted = true): Promise<unknown[]> {
    if (this.client.status !== 'ready') throw this.failure('unavailable', 'not connected to Redis (reconnecting)', counted);
    if (this.turns.pendingCalls + commands > this.maxPendingCommands) {
      throw this.failure('overloaded', `${this.turns.pendingCalls} commands already wait for Redis`, counted);
    }
    return this.turns.add(build);
  }

  /**
   * `work` (answers from the `send` just made, and what is made of them), or
   * StateUnavailableError once Redis has been silent for the timeout: counted
   * from when this turn's commands are written, started again whenever bytes
   * arrive from Redis (a large answer that keeps coming is no outage), and
   * expiring only after this process has read what Redis sent, so that a
   * round trip fails because Redis was silent, not because this process was
   * busy (a long batch, a garbage collection). What arrives late is still
   * processed by whoever holds `work`; only the caller stops waiting.
   * `counted` false: a failure is counted only when given to `countFailure`.
   */
  within<T>(work: Promise<T>, counted = true): Promise<T> {
    return new Promise<T>((resolveWork, rejectWork) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let written = 0;
      const timeoutMs = this.options.timeoutMs;
      const expire = (): void => {
        if (settled) return;
        const silentMs = performance.now() - Math.max(written, this.lastHeard);
        if (silentMs < timeoutMs) {
          timer = setTimeout(check, timeoutMs - silentMs);
          return;
        }
        settled = true;
        rejectWork(this.failure('timeout', `Redis did not answer within ${timeoutMs} ms (FRAUD_REDIS_TIMEOUT_MS)`, counted));
      };
      // Timers run before the poll for I/O: an answer already on the socket is read first.
      const check = (): void => {
        setImmediate(expire);
      };
      this.turns.whenWritten(() => {
        if (settled) return;
        written = performance.now();
        timer = setTimeout(check, timeoutMs);
      });
      work.then(
        (value) => {
          if (timer !== undefined) clearTimeout(timer);
          if (settled) return;
          settled = true;
          resolveWork(value);
        },
        (error: unknown) => {
          if (timer !== undefined) clearTimeout(timer);
          if (settled) return;
          settled = true;
          rejectWork(error instanceof StateUnavailableError ? error : this.failure(reasonOf(error), messageOf(error), counted));
        },
      );
    });
  }

  /**
   * Whether the server has cluster support: without it, grouped calls may
   * share a script whatever their slots. A node of a Redis Cluster with more
   * than one primary, reached as a single server, answers MOVED for the keys
   * it does not hold: said once, plainly.
   */
  private checkClusterSupport(client: Redis): void {
    // Until the server answers, grouped calls keep to one slot each (safe on any server).
    this.turns.slotOf = calculateSlot;
    client
      .call('CLUSTER', 'INFO')
      .then((info) => {
        const size = /cluster_size:(\d+)/.exec(String(info))?.[1];
        if (size !== undefined && Number(size) > 1 && !this.warnedCluster) {
          this.warnedCluster = true;
          this.log.error({ clusterSize: Number(size) }, 'FRAUD_REDIS_URL names a node of a Redis Cluster: set FRAUD_REDIS_CLUSTER=true; calls on keys other nodes hold fail with UNAVAILABLE (MOVED)');
        }
      })
      // Not a Cluster (ERR This instance has cluster support disabled), or CLUSTER refused: nothing to say.
      .catch((error: unknown) => {
        if (/cluster support disabled/i.test(messageOf(error))) this.turns.slotOf = undefined;
      });
  }

  /** Notes every read from this connection's socket: Redis is answering. */
  private watch(node: Redis): void {
    const stream = node.stream as NodeJS.EventEmitter | undefined;
    if (stream === undefined || this.watched.has(stream)) return;
    this.watched.add(stream);
    stream.on('data', () => {
      this.lastHeard = performance.now();
    });
  }

  /**
   * Resolves once the commands this turn has gathered so far are written (at
   * once when none are): what is sent after it goes out in a pipeline of its
   * own, answered on its own.
   */
  written(): Promise<void> {
    return this.turns.written();
  }

  /** `send` and `within` in one: the answers of one round trip, in time. */
  roundTrip(commands: number, build: (batch: CommandBatch) => void): Promise<unknown[]> {
    return this.within(this.send(commands, build));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.availability.close();
    if (this.client.status === 'ready') {
      const quit = this.client.quit().catch(() => undefined);
      await Promise.race([quit, new Promise((wake) => setTimeout(wake, Math.max(100, this.options.timeoutMs)).unref())]);
    }
    this.client.disconnect();
  }

  /** Loads every script, so EVALSHA finds them (a failure here shows as NOSCRIPT later, which is repaired). */
  private async loadScripts(): Promise<void> {
    const nodes = isCluster(this.client) ? this.client.nodes('master') : [this.client];
    await Promise.all(nodes.map((node) => this.loadScriptsOn(node)));
  }

  private async loadScriptsOn(node: Redis): Promise<void> {
    await Promise.all(this.scripts.map((script) => node.script('LOAD', script.lua).catch(() => undefined)));
  }

  /** A failed operation: counted, logged once per outage, returned as the error the call fails with. */
  private failure(reason: RedisFailureReason, message: string, counted = true): StateUnavailableError {
    // Redis out of memory answers: not an outage (the guard reports it once per episode, not once per call).
    if (reason !== 'overloaded' && reason !== 'out_of_memory') this.availability.unavailable(message, reason);
    const error = new StateUnavailableError(message);
    if (counted) this.count(reason);
    else this.uncounted.set(error, reason);
    return error;
  }

  /**
   * Counts a failure made uncounted (`send` or `within` with `counted`
   * false) once an operation fails with it: an operation of several round
   * trips in flight at once counts the one it fails with, not every one
   * that failed after it. Other errors are left as they are.
   */
  countFailure(error: unknown): void {
    if (!(error instanceof StateUnavailableError)) return;
    const reason = this.uncounted.get(error);
    if (reason === undefined) return;
    this.uncounted.delete(error);
    this.count(reason);
  }

  private count(reason: RedisFailureReason): void {
    this.options.onFailure?.(reason);
    this.availability.countFailure();
  }
}

/** A connection error (no answer possible) or an error Redis answered (e.g. OOM, a script error). */
function reasonOf(error: unknown): RedisFailureReason {
  if (error instanceof ReplicasBehindError) return 'replicas_behind';
  // A Cluster moving a slot or electing a primary: Redis is not available for that key yet.
  if (error instanceof Error && /^(MOVED|ASK|CLUSTERDOWN|TRYAGAIN|LOADING|READONLY|MASTERDOWN)\b/.test(error.message)) return 'unavailable';
  // Redis at its maxmemory with noeviction refuses writes: "OOM command not allowed when used memory > 'maxmemory'".
  if (error instanceof Error && error.name === 'ReplyError' && error.message.startsWith('OOM')) return 'out_of_memory';
  if (error instanceof Error && (error.name === 'ReplyError' || error.name === 'ReplyFormatError')) return 'error';
  return 'unavailable';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** host:port/db of the URL, for logs (it never holds a password: config refuses one). */
function describeUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
}

import { performance } from 'node:perf_hooks';
import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import { CommandBatch, RedisScript, execPipelined, isCluster, withSource, ReplicasBehindError, type Command, type CommandResult, type Durability } from './redisCommands.js';
import { RedisAvailability } from './redisAvailability.js';
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

/** An operation waiting for its part of the current turn's pipeline. */
interface Waiting {
  readonly first: number;
  readonly commands: readonly Command[];
  /** The calls the operation made: as many replies. */
  readonly calls: number;
  readonly resolve: (replies: unknown[]) => void;
  readonly reject: (error: unknown) => void;
}

/** The commands of one event-loop turn, written together. */
interface Turn {
  readonly waiting: Waiting[];
  commands: number;
  /** The calls its commands make (a grouped command makes several). */
  calls: number;
  /** Started when the turn is written: the timers of the operations in it. */
  readonly onWritten: (() => void)[];
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
 * together (one pipeline per server: redisCommands.ts), and each operation
 * gets its slice of the answers. Scripts run by EVALSHA; all are loaded on
 * each connection (each primary of a Cluster), and a NOSCRIPT answer (a
 * flushed script cache, a promoted replica) is repaired by sending the
 * script's source once.
 *
 * Outages are reported by redisAvailability.ts (one line each), never with
 * the password: ioredis attaches a failed command's arguments (AUTH carries
 * the password) to its errors, so only messages are logged.
 */
export class RedisConnection {
  readonly client: Redis | Cluster;
  private readonly scripts: RedisScript[] = [];
  private turn: Turn | undefined;
  private pendingCommands = 0;
  private readonly availability: RedisAvailability;
  /** When bytes last came from Redis (performance.now()): a round trip fails only after this much silence. */
  private lastHeard = 0;
  private readonly watched = new WeakSet();
  private warnedCluster = false;
  private readonly maxPendingCommands: number;
  private readonly durability: Durability | undefined;
  private readonly log: Logger;
  private closed = false;
  /**
   * The slot of a key, which grouped script calls must share on a server
   * with cluster support (it refuses a script across slots: CROSSSLOT);
   * undefined once the server said it has none, so any calls may share one.
   */
  private slotOf: ((key: string) => number) | undefined = calculateSlot;

  constructor(private readonly options: RedisConnectionOptions) {
    this.maxPendingCommands = options.maxPendingCommands ?? DEFAULT_MAX_PENDING_COMMANDS;
    const replicas = options.waitReplicas ?? 0;
    // Half the round trip's bound: the confirmation (or its absence) arrives before the round trip times out.
    this.durability = replicas > 0 ? { replicas, timeoutMs: Math.max(1, Math.floor(options.timeoutMs / 2)) } : undefined;
    const redis = options.sentinel === undefined ? describeUrl(options.url) : `sentinel:${options.sentinel.name}`;
    this.log = options.logger.child({ component: 'redis', redis, ...(options.cluster === true ? { cluster: true } : {}) });
    this.availability = new RedisAvailability(this.log, options.cluster === true, options.onAvailability);
    this.client = createRedisClient(options);
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

  /** A script this connection loads into Redis on every (re)connection. */
  script(lua: string): RedisScript {
    const script = new RedisScript(lua);
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
    return this.pendingCommands;
  }

  /**
   * Adds `commands` commands (through `build`, synchronously) to this turn's
   * pipeline and returns their answers, in order. Fails with
   * StateUnavailableError at once when Redis is not connected or too much
   * already waits for it, and with an error when Redis answers one with an
   * error. The answer is not awaited here: see `within`.
   */
  send(commands: number, build: (batch: CommandBatch) => void): Promise<unknown[]> {
    if (this.client.status !== 'ready') throw this.failure('unavailable', 'not connected to Redis (reconnecting)');
    if (this.pendingCommands + commands > this.maxPendingCommands) {
      throw this.failure('overloaded', `${this.pendingCommands} commands already wait for Redis`);
    }
    if (this.turn === undefined) {
      this.turn = { waiting: [], commands: 0, calls: 0, onWritten: [] };
      // After the current turn's calls have added theirs: one write for all of them.
      setImmediate(() => {
        this.flush();
      });
    }
    const turn = this.turn;
    const batch = new CommandBatch(this.slotOf);
    build(batch);
    const sealed = batch.seal();
    this.pendingCommands += batch.calls;
    return new Promise<unknown[]>((resolve, reject) => {
      turn.waiting.push({ first: turn.commands, commands: sealed, calls: batch.calls, resolve, reject });
      turn.commands += sealed.length;
      turn.calls += batch.calls;
    });
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
   */
  within<T>(work: Promise<T>): Promise<T> {
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
        rejectWork(this.failure('timeout', `Redis did not answer within ${timeoutMs} ms (FRAUD_REDIS_TIMEOUT_MS)`));
      };
      // Timers run before the poll for I/O: an answer already on the socket is read first.
      const check = (): void => {
        setImmediate(expire);
      };
      const turn = this.turn;
      const start = (): void => {
        if (settled) return;
        written = performance.now();
        timer = setTimeout(check, timeoutMs);
      };
      if (turn === undefined) start();
      else turn.onWritten.push(start);
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
          rejectWork(error instanceof StateUnavailableError ? error : this.failure(reasonOf(error), messageOf(error)));
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
    this.slotOf = calculateSlot;
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
        if (/cluster support disabled/i.test(messageOf(error))) this.slotOf = undefined;
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
    const turn = this.turn;
    if (turn === undefined) return Promise.resolve();
    return new Promise<void>((resolve) => {
      turn.onWritten.push(resolve);
    });
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

  private flush(): void {
    const turn = this.turn;
    this.turn = undefined;
    if (turn === undefined) return;
    const commands: Command[] = [];
    for (const waiting of turn.waiting) commands.push(...waiting.commands);
    const answers = execPipelined(this.client, commands, this.durability);
    // The commands are on their way (ioredis writes them now): the round trips' clocks start.
    for (const start of turn.onWritten) start();
    answers.then(
      ({ results, nodes }) => {
        this.pendingCommands -= turn.calls;
        // Redis answered when every node did (an error reply included); a node that failed fails its operations.
        if (nodes.every((node) => node.answered)) this.availability.answered();
        for (const waiting of turn.waiting) {
          this.deliver(waiting, results.slice(waiting.first, waiting.first + waiting.commands.length)).catch(waiting.reject);
        }
      },
      (error: unknown) => {
        this.pendingCommands -= turn.calls;
        for (const waiting of turn.waiting) waiting.reject(error);
      },
    );
  }

  /** One operation's answers; scripts Redis did not have are sent again with their source, in order. */
  private async deliver(waiting: Waiting, results: CommandResult[]): Promise<void> {
    const missing: number[] = [];
    for (let index = 0; index < results.length; index++) {
      const error = (results[index] as CommandResult)[0];
      if (error === null) continue;
      if (error.message.startsWith('NOSCRIPT') && waiting.commands[index]?.script !== undefined) {
        missing.push(index);
        continue;
      }
      waiting.reject(error);
      return;
    }
    const replies = results.map((result) => result[1]);
    if (missing.length > 0) {
      // Redis lost its scripts (SCRIPT FLUSH, a new server or a promoted replica): EVAL brings them back.
      const again = await execPipelined(
        this.client,
        missing.map((index) => withSource(waiting.commands[index] as Command)),
        this.durability,
      );
      for (const [position, index] of missing.entries()) {
        const [error, reply] = again.results[position] ?? [new Error('no answer'), undefined];
        if (error !== null) {
          waiting.reject(error);
          return;
        }
        replies[index] = reply;
      }
    }
    waiting.resolve(spread(waiting, replies));
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
  private failure(reason: RedisFailureReason, message: string): StateUnavailableError {
    this.options.onFailure?.(reason);
    // Redis out of memory answers: not an outage (the guard reports it once per episode, not once per call).
    if (reason !== 'overloaded' && reason !== 'out_of_memory') this.availability.unavailable(message, reason);
    this.availability.countFailure();
    return new StateUnavailableError(message);
  }
}

/** A connection error (no answer possible) or an error Redis answered (e.g. OOM, a script error). */
/** One reply per call, in the order the calls were made: a grouped command's reply (one per call) spread over its calls. */
function spread(waiting: Waiting, replies: readonly unknown[]): unknown[] {
  const byCall = new Array<unknown>(waiting.calls);
  waiting.commands.forEach((command, index) => {
    const reply = replies[index];
    if (!command.grouped) {
      byCall[command.positions[0] as number] = reply;
      return;
    }
    const each = reply as readonly unknown[];
    command.positions.forEach((position, call) => (byCall[position] = each[call] ?? null));
  });
  return byCall;
}

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

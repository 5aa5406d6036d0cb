import { Cluster, type Redis } from 'ioredis';
import { ConfigError } from '../config/envValues.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { GenerationMarkers, type MarkerCheck } from './redisGeneration.js';
import type { RedisFailureReason } from './redisConnection.js';
import { KEEPING_POLICY, readServerInfo, type RedisServerInfo } from './redisServerInfo.js';

export interface RedisGuardOptions {
  /** The store's client (a single server, or a Cluster: every primary is checked). */
  readonly client: Redis | Cluster;
  readonly keyPrefix: string;
  /** Between checks (FRAUD_REDIS_CHECK_SECONDS). */
  readonly intervalMs: number;
  /** Longest wait for one command of a check. */
  readonly timeoutMs: number;
  /** FRAUD_REDIS_ALLOW_EVICTION: serve on an evicting policy anyway (warned once, and measured). */
  readonly allowEviction: boolean;
  /** Event time a loss keeps the history incomplete: the longest window plus the delay and lateness. */
  readonly retentionSeconds: number;
  /** Newest event time this replica recorded (Unix seconds; -Infinity before any). */
  readonly watermark: () => number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Told whenever `evictionRefused`, `outOfMemory` or `historyIncomplete` may have changed. */
  readonly onChange: () => void;
}

/** While Redis is out of memory, how soon it is checked again (to report its recovery). */
const OUT_OF_MEMORY_RECHECK_MS = 1_000;

/**
 * Watches the Redis behind the state store for what silently loses history:
 * at start, on every reconnection and every interval it reads each primary's
 * eviction policy, memory and persistence, and checks the generation marker
 * (redisGeneration.ts).
 *
 * - An evicting policy (anything but noeviction: volatile-* too, since every
 *   history key has a TTL) fails the start with a one-line error naming
 *   FRAUD_REDIS_ALLOW_EVICTION; found later, it makes `evictionRefused` true
 *   until the policy is fixed. Accepted with the variable, it is warned once.
 * - Redis refusing writes for memory (an OOM reply to a call or to the
 *   check's own write) makes `outOfMemory` true until a check writes again.
 * - A marker gone or replaced is a loss: counted, logged as an error once, and
 *   `historyIncomplete` is true until this replica's event time has passed the
 *   marker's `incomplete_until`, or an operator deletes that field.
 * - What Redis would not say (CONFIG forbidden or renamed) is logged once and
 *   measured; the policy then comes from INFO memory where it can.
 */
export class RedisGuard {
  /** Resolves after the first complete check finds the policy acceptable; rejects with a ConfigError otherwise. */
  readonly started: Promise<void>;
  private settleStart: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private readonly markers: GenerationMarkers;
  private readonly log: Logger;
  private readonly said = new Set<string>();
  /** The policy each node's gauge shows, so a changed one replaces it. */
  private readonly policyOf = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  /** The check in progress (with the ones asked for meanwhile). */
  private running: Promise<void> | undefined;
  private checkAgain = false;
  private closed = false;
  private refusedPolicy: string | undefined;
  private memoryFull = false;
  private incompleteUntil: number | undefined;
  /** historyIncomplete as last reported (it also changes as event time moves on). */
  private reportedIncomplete = false;
  private readonly onReady = (): void => {
    void this.check();
  };
  private readonly onNode = (node: Redis): void => {
    node.on('ready', this.onReady);
  };

  constructor(private readonly options: RedisGuardOptions) {
    this.log = options.logger.child({ component: 'redis-guard' });
    this.markers = new GenerationMarkers(options.keyPrefix, options.retentionSeconds);
    this.started = new Promise((resolve, reject) => {
      this.settleStart = { resolve, reject };
    });
    // Rejections are for whoever awaits `started`; an unobserved one must not crash the process.
    this.started.catch(() => undefined);
    options.metrics.state.redisOutOfMemory.set(0);
    options.metrics.state.redisEvicting.set(0);
    options.metrics.state.historyIncomplete.labels('redis').set(0);
    options.metrics.state.lost.labels('redis').inc(0);
  }

  /** A primary evicts keys and FRAUD_REDIS_ALLOW_EVICTION is not set: history models must not be trusted. */
  get evictionRefused(): boolean {
    return this.refusedPolicy !== undefined;
  }

  get outOfMemory(): boolean {
    return this.memoryFull;
  }

  /** Redis lost history this replica had seen (or another replica noted so), and windows still reach into it. */
  get historyIncomplete(): boolean {
    return this.incompleteUntil !== undefined && !(this.options.watermark() >= this.incompleteUntil);
  }

  /** Checks now if connected, on every (re)connection, and every interval. */
  start(): void {
    const { client } = this.options;
    client.on('ready', this.onReady);
    if (client instanceof Cluster) {
      // Each primary has its own connection: one restarted empty reconnects there, not on the Cluster.
      for (const node of client.nodes()) node.on('ready', this.onReady);
      client.on('+node', this.onNode);
    }
    if (this.options.client.status === 'ready') void this.check();
    this.schedule();
  }

  /** Told of every failed store operation: an OOM reply means Redis refuses writes now. */
  noteFailure(reason: RedisFailureReason): void {
    if (reason !== 'out_of_memory' || this.memoryFull) return;
    this.setOutOfMemory(true, 'a write was refused: OOM command not allowed when used memory > maxmemory');
    this.schedule();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const { client } = this.options;
    client.off('ready', this.onReady);
    if (client instanceof Cluster) {
      client.off('+node', this.onNode);
      for (const node of client.nodes()) node.off('ready', this.onReady);
    }
  }

  /** One check of every primary; asked for while one runs, it runs once more after it, and resolves then. */
  check(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.running !== undefined) {
      // Settles after another check, which starts once the one running ends.
      this.checkAgain = true;
      return this.running;
    }
    this.running = this.checkUntilSettled().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async checkUntilSettled(): Promise<void> {
    try {
      do {
        this.checkAgain = false;
        await this.checkOnce();
      } while (this.wantsAnotherCheck());
    } catch (error) {
      // Redis went away mid-check: the connection logs the outage; the next connection or interval checks again.
      this.log.debug({ error: error instanceof Error ? error.message : String(error) }, 'Redis check interrupted; checking again later');
    }
  }

  /** A check was asked for while the last one ran (set by `check` during the await). */
  private wantsAnotherCheck(): boolean {
    return this.checkAgain && !this.closed;
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const delay = this.memoryFull ? Math.min(this.options.intervalMs, OUT_OF_MEMORY_RECHECK_MS) : this.options.intervalMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.check().finally(() => {
        this.schedule();
      });
    }, delay);
    this.timer.unref();
  }

  private async checkOnce(): Promise<void> {
    const { client, timeoutMs } = this.options;
    const primaries = client instanceof Cluster ? client.nodes('master') : [client];
    const infos: RedisServerInfo[] = [];
    for (const primary of primaries) infos.push(await readServerInfo(primary, nodeName(primary), timeoutMs));
    for (const info of infos) this.report(info);
    const evicting = infos.filter((info) => info.policy !== undefined && info.policy !== KEEPING_POLICY);
    this.options.metrics.state.redisEvicting.set(evicting.length > 0 ? 1 : 0);
    const refused = this.options.allowEviction ? undefined : evicting[0];
    if (refused !== undefined && this.settleStart !== undefined) {
      const { reject } = this.settleStart;
      this.settleStart = undefined;
      reject(
        new ConfigError(
          'FRAUD_REDIS_ALLOW_EVICTION',
          `Redis ${refused.node} has maxmemory-policy ${refused.policy ?? ''}, which evicts history (every history key has a TTL); set maxmemory-policy noeviction, or FRAUD_REDIS_ALLOW_EVICTION=true to accept losing history`,
        ),
      );
      return;
    }
    this.setRefusedPolicy(refused);
    const keys = await this.markers.keys(client, timeoutMs);
    this.markers.retain(keys);
    let until: number | undefined;
    let written = true;
    for (const key of keys) {
      let result: MarkerCheck;
      try {
        result = await this.markers.check(client, key, this.options.watermark(), timeoutMs);
      } catch (error) {
        if (!(error instanceof Error) || error.name !== 'ReplyError') throw error;
        if (error.message.startsWith('OOM')) {
          written = false;
          continue;
        }
        // Refused (an ACL without EVAL or HSET on the marker, say): losses cannot be seen, which must not go unsaid.
        this.options.metrics.state.redisUnchecked.labels(client instanceof Cluster ? key : nodeName(client), 'generation marker').set(1);
        this.once(`marker ${key}`, () => {
          this.log.warn({ marker: key, refusal: error.message }, 'Redis refused the generation marker: a Redis that loses its data is not noticed');
        });
        continue;
      }
      if (result.lost !== undefined) this.lost(result);
      else if (result.created) this.log.info({ marker: key, generation: result.marker.id }, 'Redis history marker created (a store seen for the first time)');
      if (result.marker.incompleteUntil !== undefined) until = Math.max(until ?? Number.NEGATIVE_INFINITY, result.marker.incompleteUntil);
    }
    // The marker write is this check's probe: Redis took it, so it takes writes again.
    if (written) this.setOutOfMemory(false, '');
    else this.setOutOfMemory(true, 'the check\'s own write was refused: OOM command not allowed when used memory > maxmemory');
    this.setIncomplete(until);
    this.options.metrics.state.redisLastCheck.set(Date.now() / 1000);
    if (this.settleStart !== undefined) {
      this.settleStart.resolve();
      this.settleStart = undefined;
    }
  }

  /** Metrics of one primary, and what it would not say, once. */
  private report(info: RedisServerInfo): void {
    const { metrics } = this.options;
    const { node } = info;
    if (info.usedMemory !== undefined) metrics.state.redisMemory.labels(node, 'used').set(info.usedMemory);
    if (info.maxMemory !== undefined) metrics.state.redisMemory.labels(node, 'max').set(info.maxMemory);
    if (info.evictedKeys !== undefined) metrics.state.redisEvictedKeys.labels(node).set(info.evictedKeys);
    const policy = info.policy ?? 'unknown';
    const before = this.policyOf.get(node);
    if (before !== undefined && before !== policy) metrics.state.redisEvictionPolicy.remove(node, before);
    this.policyOf.set(node, policy);
    metrics.state.redisEvictionPolicy.labels(node, policy).set(1);
    if (info.aof !== undefined) metrics.state.redisPersistence.labels(node, 'aof').set(info.aof ? 1 : 0);
    if (info.rdb !== undefined) metrics.state.redisPersistence.labels(node, 'rdb').set(info.rdb ? 1 : 0);
    for (const what of info.unreadable) {
      const check = what.replace(/ \(.*$/, '');
      metrics.state.redisUnchecked.labels(node, check).set(1);
      this.once(`unreadable ${node} ${check}`, () => {
        this.log.warn(
          { node, check, refusal: what },
          `Redis would not answer ${check} (a managed service may forbid or rename it): ${check === 'maxmemory-policy' ? 'the eviction policy is not checked' : 'what it tells is read from INFO where Redis allows'}`,
        );
      });
    }
    if (info.aof === false && info.rdb !== true) {
      this.once(`persistence ${node}`, () => {
        this.log.warn(
          { node, aof: info.aof, rdb: info.rdb ?? 'unknown' },
          'Redis keeps the history in memory only (no append-only file): a restart loses it; set appendonly yes (or use replicas)',
        );
      });
    }
    if (info.policy !== undefined && info.policy !== KEEPING_POLICY && this.options.allowEviction) {
      this.once(`evicting ${node} ${info.policy}`, () => {
        this.log.warn(
          { node, policy: info.policy },
          'Redis evicts keys under memory pressure (maxmemory-policy is not noeviction), accepted by FRAUD_REDIS_ALLOW_EVICTION=true: history can be lost silently; watch fraud_state_redis_evicted_keys',
        );
      });
    }
  }

  private setRefusedPolicy(refused: RedisServerInfo | undefined): void {
    const policy = refused === undefined ? undefined : `${refused.node} ${refused.policy ?? ''}`;
    if (policy === this.refusedPolicy) return;
    this.refusedPolicy = policy;
    if (refused !== undefined) {
      this.log.error(
        { node: refused.node, policy: refused.policy },
        'Redis now evicts keys under memory pressure (maxmemory-policy is not noeviction): history can vanish, so the history models are NOT_SERVING; set maxmemory-policy noeviction, or FRAUD_REDIS_ALLOW_EVICTION=true to accept it',
      );
    } else {
      this.log.info('Redis no longer evicts keys (maxmemory-policy noeviction): the history models serve again');
    }
    this.options.onChange();
  }

  private setOutOfMemory(full: boolean, why: string): void {
    if (full === this.memoryFull) return;
    this.memoryFull = full;
    this.options.metrics.state.redisOutOfMemory.set(full ? 1 : 0);
    if (full) {
      this.log.error({ reason: why }, 'Redis is out of memory and refuses writes: scoring calls fail with UNAVAILABLE; raise maxmemory or free memory');
    } else {
      this.log.info('Redis takes writes again: out of memory no more');
    }
    this.options.onChange();
  }

  private setIncomplete(until: number | undefined): void {
    const was = this.reportedIncomplete;
    this.incompleteUntil = until;
    const now = this.historyIncomplete;
    this.reportedIncomplete = now;
    this.options.metrics.state.historyIncomplete.labels('redis').set(now ? 1 : 0);
    if (was && !now) {
      this.log.info(
        { incompleteUntil: until === undefined ? 'acknowledged' : new Date(until * 1000).toISOString() },
        'the history is complete again: no window reaches into the lost history any more (or the loss was acknowledged)',
      );
    }
    if (was !== now) this.options.onChange();
  }

  private lost(result: MarkerCheck): void {
    this.options.metrics.state.lost.labels('redis').inc();
    const { marker, lost } = result;
    this.log.error(
      {
        marker: marker.key,
        lostGeneration: lost?.previous,
        how: lost?.how,
        generation: marker.id,
        incompleteUntil: marker.incompleteUntil === undefined ? undefined : new Date(marker.incompleteUntil * 1000).toISOString(),
      },
      `Redis lost the history this service wrote (its generation marker is ${lost?.how === 'gone' ? 'gone' : 'replaced'}: a restart without persistence, FLUSHALL, eviction or another server): cards and terminals score as new until the history is rebuilt; health fraud.v1.FraudService/history is NOT_SERVING`,
    );
  }

  private once(what: string, say: () => void): void {
    if (this.said.has(what)) return;
    this.said.add(what);
    say();
  }
}

/** host:port of a client, as metric label and in logs. */
function nodeName(client: Redis): string {
  return `${client.options.host ?? ''}:${String(client.options.port ?? '')}`;
}

import { boolean, ConfigError, integer, oneOf, optionalPath, optionalUrl, raw, seconds, shown, text, type Env } from './envValues.js';

export type StateStoreKind = 'memory' | 'redis' | 'none';

/** Event days live quality keeps: a 30-day window with a few days of outcomes still coming in. */
export const DEFAULT_QUALITY_RETENTION_DAYS = 35;

export interface StateConfig {
  readonly store: StateStoreKind;
  /** How far behind the newest recorded transaction a transaction may be and still be accepted. */
  readonly latenessSeconds: number;
  /** How far ahead of the clock a transaction's (or an outcome's) time may be. */
  readonly maxFutureSeconds: number;
  /** Embedded store: customers plus terminals kept, beyond which the least recently active are evicted. */
  readonly maxEntities: number;
  /** Embedded store: recorded transactions remembered for outcomes. */
  readonly maxTransactions: number;
  /** Embedded store: the snapshot file written on shutdown and on an interval, restored at start; undefined for none. */
  readonly snapshotPath: string | undefined;
  readonly snapshotIntervalMs: number;
  /** Answered transactions whose scores wait to be kept with them (live quality); beyond it their scores are dropped and counted. */
  readonly maxPendingScores: number;
  /** Event days live quality keeps behind the newest day with an outcome; the longest GetModelQuality window (at most 90). */
  readonly qualityRetentionDays: number;
  readonly redis: {
    /** redis:// or rediss:// URL, without a password (that comes from FRAUD_REDIS_PASSWORD). */
    readonly url: string | undefined;
    readonly password: string | undefined;
    /** Longest wait for Redis per call before the call fails with UNAVAILABLE. */
    readonly timeoutMs: number;
    /** Prefix of every key, so several services can share one Redis. */
    readonly keyPrefix: string;
    /** The URL names one node of a Redis Cluster: commands go to each key's primary. */
    readonly cluster: boolean;
    /** Replicas that must confirm a round trip's writes before the call succeeds; 0 for none. */
    readonly waitReplicas: number;
    /** Between checks of Redis's eviction policy, memory, persistence and generation marker. */
    readonly checkIntervalMs: number;
    /** Serve on a Redis that evicts keys (maxmemory-policy other than noeviction), warned once, instead of refusing to start. */
    readonly allowEviction: boolean;
    /** Redis Sentinel names the primary (FRAUD_REDIS_SENTINELS; no FRAUD_REDIS_URL then); undefined without. */
    readonly sentinel: RedisSentinelConfig | undefined;
  };
}

export interface RedisSentinelConfig {
  /** The Sentinels asked for the primary's address, in order. */
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  /** The primary's name as the Sentinels monitor it (`sentinel monitor <name> …`). */
  readonly name: string;
  /** The Sentinels' own password (FRAUD_REDIS_SENTINEL_PASSWORD); the data nodes take FRAUD_REDIS_PASSWORD. */
  readonly password: string | undefined;
}

export function stateConfig(env: Env): StateConfig {
  const store = oneOf(env, 'FRAUD_STATE_STORE', 'memory', ['memory', 'redis', 'none'] as const);
  const url = optionalRedisUrl(env, 'FRAUD_REDIS_URL');
  const sentinel = redisSentinel(env, url);
  if (store === 'redis' && url === undefined && sentinel === undefined) {
    throw new ConfigError('FRAUD_REDIS_URL', 'is required when FRAUD_STATE_STORE=redis (e.g. redis://redis:6379/0), unless FRAUD_REDIS_SENTINELS names Sentinels');
  }
  return {
    store,
    latenessSeconds: integer(env, 'FRAUD_STATE_LATENESS_SECONDS', 86_400, 0, 7 * 86_400),
    maxFutureSeconds: integer(env, 'FRAUD_STATE_MAX_FUTURE_SECONDS', 300, 0, 86_400),
    maxEntities: integer(env, 'FRAUD_STATE_MAX_ENTITIES', 100_000, 1, 16_000_000),
    maxTransactions: integer(env, 'FRAUD_STATE_MAX_TRANSACTIONS', 500_000, 1, 100_000_000),
    snapshotPath: optionalPath(env, 'FRAUD_STATE_SNAPSHOT_PATH'),
    snapshotIntervalMs: seconds(env, 'FRAUD_STATE_SNAPSHOT_SECONDS', 60, 0.1, 86_400),
    maxPendingScores: integer(env, 'FRAUD_QUALITY_MAX_PENDING_SCORES', 100_000, 1, 10_000_000),
    qualityRetentionDays: integer(env, 'FRAUD_QUALITY_RETENTION_DAYS', DEFAULT_QUALITY_RETENTION_DAYS, 1, 400),
    redis: {
      url,
      password: raw(env, 'FRAUD_REDIS_PASSWORD'),
      timeoutMs: integer(env, 'FRAUD_REDIS_TIMEOUT_MS', 100, 1, 60_000),
      keyPrefix: redisKeyPrefix(env, 'FRAUD_REDIS_KEY_PREFIX'),
      cluster: redisCluster(env, url),
      waitReplicas: integer(env, 'FRAUD_REDIS_WAIT_REPLICAS', 0, 0, 5),
      checkIntervalMs: seconds(env, 'FRAUD_REDIS_CHECK_SECONDS', 30, 0.1, 3600),
      allowEviction: boolean(env, 'FRAUD_REDIS_ALLOW_EVICTION', false),
      sentinel,
    },
  };
}

/**
 * Sentinel mode: the Sentinels name the primary, so FRAUD_REDIS_URL (which
 * names a server) is refused beside them rather than half used; database 0,
 * plain TCP. The name defaults to `mymaster`, Redis's own example name.
 */
export function redisSentinel(env: Env, url: string | undefined): RedisSentinelConfig | undefined {
  const list = raw(env, 'FRAUD_REDIS_SENTINELS');
  if (list === undefined) {
    for (const name of ['FRAUD_REDIS_SENTINEL_NAME', 'FRAUD_REDIS_SENTINEL_PASSWORD']) {
      if (raw(env, name) !== undefined) throw new ConfigError(name, 'is used only with FRAUD_REDIS_SENTINELS, which is unset');
    }
    return undefined;
  }
  if (url !== undefined) throw new ConfigError('FRAUD_REDIS_SENTINELS', 'names the Sentinels that name the primary: unset FRAUD_REDIS_URL (one or the other)');
  if (boolean(env, 'FRAUD_REDIS_CLUSTER', false)) throw new ConfigError('FRAUD_REDIS_SENTINELS', 'cannot be used with FRAUD_REDIS_CLUSTER=true (a Cluster elects its own primaries)');
  const nodes = list.split(',').map((entry) => {
    const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(entry.trim());
    const port = Number(match?.[3]);
    if (match === null || port < 1 || port > 65_535) {
      throw new ConfigError('FRAUD_REDIS_SENTINELS', `must be a comma-separated list of host:port, got ${JSON.stringify(entry.trim())}`);
    }
    return { host: match[1] ?? match[2] ?? '', port };
  });
  const name = text(env, 'FRAUD_REDIS_SENTINEL_NAME', 'mymaster');
  if (/\s/.test(name)) throw new ConfigError('FRAUD_REDIS_SENTINEL_NAME', `must be the primary's name as the Sentinels monitor it (no spaces), got ${JSON.stringify(name)}`);
  return { nodes, name, password: raw(env, 'FRAUD_REDIS_SENTINEL_PASSWORD') };
}

/** redis://host:port/db or rediss://…; a password in the URL is refused (it would end up in logs). */
export function optionalRedisUrl(env: Env, name: string): string | undefined {
  const url = optionalUrl(env, name, ['redis', 'rediss'], 'a redis:// or rediss:// URL');
  if (url === undefined) return undefined;
  if (url.password !== '') throw new ConfigError(name, 'must not hold a password; set FRAUD_REDIS_PASSWORD (from a Secret)');
  if (url.hostname === '') throw new ConfigError(name, `must name a host, got ${shown(url.toString())}`);
  return url.toString();
}

/** Cluster mode; a Cluster has database 0 only, so a URL naming another is refused. */
export function redisCluster(env: Env, url: string | undefined): boolean {
  const cluster = boolean(env, 'FRAUD_REDIS_CLUSTER', false);
  const database = url === undefined ? '' : new URL(url).pathname.replace(/^\//, '');
  if (cluster && database !== '' && database !== '0') {
    throw new ConfigError('FRAUD_REDIS_CLUSTER', `a Redis Cluster has database 0 only; FRAUD_REDIS_URL names database ${database}`);
  }
  return cluster;
}

/** A key prefix without braces: every key carries its own {hash tag}, and a brace in the prefix would put all keys in one Cluster slot. */
export function redisKeyPrefix(env: Env, name: string): string {
  const value = text(env, name, 'fraud:');
  if (/[{}]/.test(value)) throw new ConfigError(name, `must not contain { or } (keys carry their own hash tags), got ${JSON.stringify(value)}`);
  return value;
}

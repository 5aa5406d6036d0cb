import { Cluster, Redis, type RedisOptions } from 'ioredis';

export interface RedisClientOptions {
  readonly url: string;
  readonly password: string | undefined;
  readonly cluster?: boolean;
  /** Redis Sentinel names the primary (FRAUD_REDIS_SENTINELS); `url` is not used then. */
  readonly sentinel?: RedisSentinelOptions;
  readonly timeoutMs: number;
}

export interface RedisSentinelOptions {
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  /** The primary's name as the Sentinels monitor it. */
  readonly name: string;
  /** The Sentinels' own password, if they require one. */
  readonly password: string | undefined;
}

/** Reconnection backoff: 50 ms doubling up to this, plus jitter, so a returning Redis is used within about a second. */
const MAX_RECONNECT_DELAY_MS = 1_000;
/** How often a Cluster client asks for the slot map on its own, besides after every failure. */
const SLOTS_REFRESH_MS = 1_000;

function backoff(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt - 1, 10), MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100);
}

/**
 * The ioredis client for the URL, set to fail fast: no offline queue, no
 * command sent again after a dropped connection (a repeat is safe, but the
 * caller decides), and a connection that hears nothing for 10 × the timeout
 * (at least 1 s) dropped and reconnected.
 *
 * A Cluster client learns the cluster from the URL's node, sends each
 * command to its key's primary, asks for the slot map every second and after
 * each failure, and reconnects to the nodes the map names: a promoted replica
 * is used as soon as the map says so, without a restart.
 *
 * A Sentinel client asks the Sentinels for the primary's address on every
 * (re)connection, and drops its connection as soon as a Sentinel announces a
 * new primary (+switch-master): a promoted replica is used without a restart.
 */
export function createRedisClient(options: RedisClientOptions): Redis | Cluster {
  const stallMs = Math.max(1_000, options.timeoutMs * 10);
  const common: RedisOptions = {
    password: options.password,
    connectTimeout: stallMs,
    socketTimeout: stallMs,
    // Commands in flight when the connection drops fail at once, and are never sent again.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectionName: 'fraud-scoring',
    disableClientInfo: true,
  };
  if (options.sentinel !== undefined) {
    return new Redis({
      ...common,
      sentinels: options.sentinel.nodes.map(({ host, port }) => ({ host, port })),
      name: options.sentinel.name,
      sentinelPassword: options.sentinel.password,
      role: 'master',
      sentinelCommandTimeout: stallMs,
      failoverDetector: true,
      lazyConnect: true,
      enableOfflineQueue: false,
      retryStrategy: backoff,
    });
  }
  if (options.cluster !== true) {
    return new Redis(options.url, { ...common, lazyConnect: true, enableOfflineQueue: false, retryStrategy: backoff });
  }
  const url = new URL(options.url);
  const cluster = new Cluster([{ host: url.hostname, port: Number(url.port === '' ? 6379 : url.port) }], {
    lazyConnect: true,
    enableOfflineQueue: false,
    clusterRetryStrategy: backoff,
    // A moved slot is followed at once; a lost node or a cluster electing a primary fails the operation (the caller retries).
    maxRedirections: 2,
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    retryDelayOnTryAgain: 0,
    // Refreshed below instead: ioredis's own timer outlives disconnect() when a refresh is in flight then
    // (its end schedules the next one, for ever), which keeps a closed store's process alive.
    slotsRefreshInterval: 0,
    slotsRefreshTimeout: stallMs,
    // What the URL carries besides the node, for every node: the ACL user and TLS.
    redisOptions: { ...common, ...(url.username === '' ? {} : { username: decodeURIComponent(url.username) }), ...(url.protocol === 'rediss:' ? { tls: {} } : {}) },
  });
  const refresh = setInterval(() => {
    if (cluster.status === 'ready') cluster.refreshSlotsCache();
  }, SLOTS_REFRESH_MS).unref();
  cluster.once('end', () => {
    clearInterval(refresh);
  });
  return cluster;
}

/**
 * What a Sentinel's failure to name the primary means for the operator: an
 * unknown name comes as "No such master" (or, from older Sentinels, "an
 * invalid reply: null") and later as "All sentinels are unreachable", and a
 * refused Sentinel password in words that would point at FRAUD_REDIS_PASSWORD.
 */
export function sentinelProblem(message: string, name: string): string {
  const sentinel = /sentinel (\S+)/.exec(message)?.[1] ?? 'a Sentinel';
  if (/No such master|invalid reply: null$/i.test(message)) {
    return `Sentinel ${sentinel} monitors no primary named ${JSON.stringify(name)}: check FRAUD_REDIS_SENTINEL_NAME`;
  }
  if (/WRONGPASS|NOAUTH|invalid password|AUTH failed|invalid username-password/i.test(message)) {
    return `Sentinel ${sentinel} refused its credentials: check FRAUD_REDIS_SENTINEL_PASSWORD`;
  }
  return message;
}

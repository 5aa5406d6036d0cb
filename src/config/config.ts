import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Level } from 'pino';
import type { ModelTask } from '../models/modelTask.js';
import { hostname } from 'node:os';
import { packageRoot } from '../packageRoot.js';
import { tracingConfig, type TracingConfig } from './tracingConfig.js';

/** A setting that cannot be used; `message` is one line naming the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

export interface Config {
  readonly grpc: {
    readonly host: string;
    readonly port: number;
    readonly maxMessageBytes: number;
    /** HTTP/2 streams (calls) one connection may have open at once. */
    readonly maxConcurrentStreams: number;
    readonly maxConcurrentStreamsTotal: number;
    /** Memory one connection's HTTP/2 session may hold (mostly answers its client has not read) before new calls on it are refused. */
    readonly maxSessionMemoryMb: number;
    /** Connections are closed (GOAWAY) after this long, so clients re-resolve and spread over new replicas; 0 never. */
    readonly maxConnectionAgeMs: number;
    /** Calls still running on an aged connection get this long before it is cut. */
    readonly maxConnectionAgeGraceMs: number;
  };
  /** Admission control: transactions being scored or waiting for their client to read the answer. */
  readonly rowsInFlight: { readonly max: number; readonly maxPerConnection: number };
  /** How long an answer may wait unread before its call is reset and its rows given back. */
  readonly unreadAnswerMs: number;
  /** Batch transactions scored at once; other batches wait their turn (unary calls never do). */
  readonly maxBatchRowsScoring: number;
  /** Health Watch streams open at once, in the process and on one connection. */
  readonly healthWatches: { readonly max: number; readonly maxPerConnection: number };
  /** GetModelInfo shows where models come from (store URLs) and the raw text of the last error. */
  readonly modelInfoDetails: boolean;
  readonly metrics: { readonly host: string; readonly port: number };
  readonly logLevel: Level | 'silent';
  readonly maxBatchSize: number;
  readonly shutdownGraceMs: number;
  /** Where each task's model comes from: a manifest URI (file: or s3:). */
  readonly modelUris: Readonly<Record<ModelTask, URL>>;
  readonly modelPoll: {
    readonly intervalMs: number;
    readonly jitter: number;
    /** Longest wait between retries while a model source fails. */
    readonly retryMaxMs: number;
    /** How long a new manifest may wait for its .onnx before the version is refused. */
    readonly pendingTimeoutMs: number;
  };
  /** Folder keeping the last good copy of each remote model, or undefined for none. */
  readonly modelCacheDir: string | undefined;
  readonly s3: { readonly endpoint: string | undefined; readonly region: string; readonly forcePathStyle: boolean };
  /** lakeFS API base URL (…/api/v1); when set, branches are resolved to commit ids. */
  readonly lakefsApiEndpoint: string | undefined;
  readonly onnxIntraOpThreads: number;
  /** Where customer and terminal history is kept. */
  readonly state: StateConfig;
  /** TLS of the gRPC listener; undefined: plaintext. */
  readonly tls: TlsConfig | undefined;
  readonly auth: AuthConfig;
  /** How often the certificate and token files are read again, for rotation. */
  readonly securityReloadMs: number;
  /** A plaintext port serving health alone, for probes that cannot speak (mutual) TLS; undefined: none. */
  readonly healthPort: number | undefined;
  /** OpenTelemetry tracing (the standard OTEL_* variables), or undefined when it is off (the default). */
  readonly tracing: TracingConfig | undefined;
  /** The decision log: a record of every answered transaction, to files, Kafka and object storage (all off unless configured). */
  readonly decisionLog: DecisionLogConfig;
}

/** Server certificate and key (PEM files), and the CA of client certificates for mutual TLS. */
export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** Set: mutual TLS, every client presents a certificate this CA verifies. */
  readonly clientCaFile: string | undefined;
}

/** `authenticated`: a valid bearer token or a verified client certificate; `open`: anyone. */
export type AccessPolicy = 'open' | 'authenticated';

export interface AuthConfig {
  /** `<principal> <token>` per line; undefined: no bearer tokens. */
  readonly tokensFile: string | undefined;
  /** Client-certificate names (CN, DNS or URI SAN) allowed to write; empty: any verified certificate. */
  readonly clientNames: readonly string[];
  /** ReportOutcome, ReportOutcomeBatch. */
  readonly writes: AccessPolicy;
  /** Scoring calls and GetModelInfo. Health and reflection are always open. */
  readonly reads: AccessPolicy;
}

export type StateStoreKind = 'memory' | 'redis' | 'none';

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

type Env = Readonly<Record<string, string | undefined>>;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** The decision log's variables (see decisionLogConfig). */
const DECISION_LOG_VARIABLES = [
  'FRAUD_DECISION_LOG_INSTANCE',
  'FRAUD_DECISION_LOG_BUFFER_RECORDS',
  'FRAUD_DECISION_LOG_BATCH_RECORDS',
  'FRAUD_DECISION_LOG_DIR',
  'FRAUD_DECISION_LOG_FILE_MAX_BYTES',
  'FRAUD_DECISION_LOG_FILE_ROTATE_SECONDS',
  'FRAUD_DECISION_LOG_FILE_KEEP',
  'FRAUD_DECISION_LOG_KAFKA_BROKERS',
  'FRAUD_DECISION_LOG_KAFKA_TOPIC',
  'FRAUD_DECISION_LOG_KAFKA_TLS',
  'FRAUD_DECISION_LOG_KAFKA_CA_FILE',
  'FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM',
  'FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME',
  'FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD',
  'FRAUD_DECISION_LOG_S3_URI',
  'FRAUD_DECISION_LOG_S3_OBJECT_RECORDS',
  'FRAUD_DECISION_LOG_S3_FLUSH_SECONDS',
] as const;

/** Every variable the service reads, for the unknown-variable warning and the table in docs/configuration.md. */
export const CONFIG_VARIABLES = [
  'FRAUD_GRPC_HOST',
  'FRAUD_GRPC_PORT',
  'FRAUD_MAX_MESSAGE_BYTES',
  'FRAUD_METRICS_HOST',
  'FRAUD_METRICS_PORT',
  'FRAUD_LOG_LEVEL',
  'FRAUD_MAX_BATCH_SIZE',
  'FRAUD_SHUTDOWN_GRACE_SECONDS',
  'FRAUD_BINARY_MODEL_URI',
  'FRAUD_SCENARIO_MODEL_URI',
  'FRAUD_MODEL_POLL_SECONDS',
  'FRAUD_MODEL_POLL_JITTER',
  'FRAUD_MODEL_RETRY_MAX_SECONDS',
  'FRAUD_MODEL_PENDING_SECONDS',
  'FRAUD_MODEL_CACHE_DIR',
  'FRAUD_S3_ENDPOINT',
  'FRAUD_S3_REGION',
  'FRAUD_S3_FORCE_PATH_STYLE',
  'FRAUD_LAKEFS_API_ENDPOINT',
  'FRAUD_ONNX_INTRA_OP_THREADS',
  'FRAUD_STATE_STORE',
  'FRAUD_STATE_LATENESS_SECONDS',
  'FRAUD_STATE_MAX_FUTURE_SECONDS',
  'FRAUD_STATE_MAX_ENTITIES',
  'FRAUD_STATE_MAX_TRANSACTIONS',
  'FRAUD_STATE_SNAPSHOT_PATH',
  'FRAUD_STATE_SNAPSHOT_SECONDS',
  'FRAUD_REDIS_URL',
  'FRAUD_REDIS_PASSWORD',
  'FRAUD_REDIS_TIMEOUT_MS',
  'FRAUD_REDIS_KEY_PREFIX',
  'FRAUD_REDIS_CLUSTER',
  'FRAUD_REDIS_WAIT_REPLICAS',
  'FRAUD_REDIS_CHECK_SECONDS',
  'FRAUD_REDIS_ALLOW_EVICTION',
  'FRAUD_REDIS_SENTINELS',
  'FRAUD_REDIS_SENTINEL_NAME',
  'FRAUD_REDIS_SENTINEL_PASSWORD',
  'FRAUD_GRPC_MAX_CONCURRENT_STREAMS',
  'FRAUD_GRPC_MAX_SESSION_MEMORY_MB',
  'FRAUD_GRPC_MAX_CONNECTION_AGE_SECONDS',
  'FRAUD_GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS',
  'FRAUD_MAX_ROWS_IN_FLIGHT',
  'FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION',
  'FRAUD_MODEL_INFO_DETAILS',
  'FRAUD_UNREAD_ANSWER_SECONDS',
  'FRAUD_HEALTH_MAX_WATCHES',
  'FRAUD_HEALTH_MAX_WATCHES_PER_CONNECTION',
  'FRAUD_MAX_BATCH_ROWS_SCORING',
  'FRAUD_GRPC_MAX_CONCURRENT_STREAMS_TOTAL',
  'FRAUD_TLS_CERT_FILE',
  'FRAUD_TLS_KEY_FILE',
  'FRAUD_TLS_CLIENT_CA_FILE',
  'FRAUD_TLS_RELOAD_SECONDS',
  'FRAUD_AUTH_TOKENS_FILE',
  'FRAUD_AUTH_CLIENT_NAMES',
  'FRAUD_AUTH_WRITES',
  'FRAUD_AUTH_READS',
  'FRAUD_HEALTH_PORT',
  ...DECISION_LOG_VARIABLES,
] as const;

/** Reads and checks the whole configuration; throws ConfigError on the first bad value. */
export function loadConfig(env: Env): Config {
  const maxBatchSize = integer(env, 'FRAUD_MAX_BATCH_SIZE', 10_000, 1, 100_000);
  return {
    grpc: {
      host: text(env, 'FRAUD_GRPC_HOST', '0.0.0.0'),
      port: integer(env, 'FRAUD_GRPC_PORT', 50051, 0, 65535),
      maxMessageBytes: integer(env, 'FRAUD_MAX_MESSAGE_BYTES', 4 * 1024 * 1024, 1024, 64 * 1024 * 1024),
      maxConcurrentStreams: integer(env, 'FRAUD_GRPC_MAX_CONCURRENT_STREAMS', DEFAULT_MAX_CONCURRENT_STREAMS, 1, 10_000),
      maxConcurrentStreamsTotal: integer(env, 'FRAUD_GRPC_MAX_CONCURRENT_STREAMS_TOTAL', DEFAULT_MAX_CONCURRENT_STREAMS_TOTAL, 1, 1_000_000),
      maxSessionMemoryMb: integer(env, 'FRAUD_GRPC_MAX_SESSION_MEMORY_MB', DEFAULT_MAX_SESSION_MEMORY_MB, 1, 4096),
      maxConnectionAgeMs: seconds(env, 'FRAUD_GRPC_MAX_CONNECTION_AGE_SECONDS', DEFAULT_MAX_CONNECTION_AGE_SECONDS, 0, 86_400),
      maxConnectionAgeGraceMs: seconds(env, 'FRAUD_GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS', DEFAULT_MAX_CONNECTION_AGE_GRACE_SECONDS, 0, 3600),
    },
    rowsInFlight: rowsInFlight(env, maxBatchSize),
    unreadAnswerMs: seconds(env, 'FRAUD_UNREAD_ANSWER_SECONDS', DEFAULT_UNREAD_ANSWER_SECONDS, 0.1, 3600),
    // One full batch at a time by default: the event loop is one, and batches scored side by side only queue up.
    maxBatchRowsScoring: integer(env, 'FRAUD_MAX_BATCH_ROWS_SCORING', maxBatchSize, 1, 10_000_000),
    healthWatches: healthWatches(env),
    modelInfoDetails: boolean(env, 'FRAUD_MODEL_INFO_DETAILS', false),
    metrics: {
      host: text(env, 'FRAUD_METRICS_HOST', '0.0.0.0'),
      port: integer(env, 'FRAUD_METRICS_PORT', 9464, 0, 65535),
    },
    logLevel: oneOf(env, 'FRAUD_LOG_LEVEL', 'info', LOG_LEVELS),
    maxBatchSize,
    shutdownGraceMs: seconds(env, 'FRAUD_SHUTDOWN_GRACE_SECONDS', 10, 0, 3600),
    modelUris: {
      binary: modelUri(env, 'FRAUD_BINARY_MODEL_URI', join(packageRoot, 'models', 'fraud-binary.json')),
      multiclass: modelUri(env, 'FRAUD_SCENARIO_MODEL_URI', join(packageRoot, 'models', 'fraud-scenario.json')),
    },
    modelPoll: {
      intervalMs: seconds(env, 'FRAUD_MODEL_POLL_SECONDS', 30, 0, 86_400),
      jitter: fraction(env, 'FRAUD_MODEL_POLL_JITTER', 0.1),
      retryMaxMs: seconds(env, 'FRAUD_MODEL_RETRY_MAX_SECONDS', 60, 1, 3600),
      pendingTimeoutMs: seconds(env, 'FRAUD_MODEL_PENDING_SECONDS', 120, 0, 86_400),
    },
    modelCacheDir: optionalPath(env, 'FRAUD_MODEL_CACHE_DIR'),
    s3: {
      endpoint: optionalHttpUrl(env, 'FRAUD_S3_ENDPOINT'),
      region: text(env, 'FRAUD_S3_REGION', env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1'),
      forcePathStyle: boolean(env, 'FRAUD_S3_FORCE_PATH_STYLE', true),
    },
    lakefsApiEndpoint: optionalHttpUrl(env, 'FRAUD_LAKEFS_API_ENDPOINT'),
    onnxIntraOpThreads: integer(env, 'FRAUD_ONNX_INTRA_OP_THREADS', 1, 1, 64),
    state: stateConfig(env),
    ...securityConfig(env),
    tracing: tracingConfig(env),
    decisionLog: decisionLogConfig(env),
  };
}

/**
 * TLS and who may call what. Only the names are checked here; the files are
 * read (and refused with a line naming the variable) when the service starts.
 */
function securityConfig(env: Env): Pick<Config, 'tls' | 'auth' | 'securityReloadMs' | 'healthPort'> {
  const certFile = optionalPath(env, 'FRAUD_TLS_CERT_FILE');
  const keyFile = optionalPath(env, 'FRAUD_TLS_KEY_FILE');
  const clientCaFile = optionalPath(env, 'FRAUD_TLS_CLIENT_CA_FILE');
  if (certFile !== undefined && keyFile === undefined) throw new ConfigError('FRAUD_TLS_KEY_FILE', 'is required with FRAUD_TLS_CERT_FILE (the private key of that certificate)');
  if (keyFile !== undefined && certFile === undefined) throw new ConfigError('FRAUD_TLS_CERT_FILE', 'is required with FRAUD_TLS_KEY_FILE (the certificate of that key)');
  if (clientCaFile !== undefined && certFile === undefined) {
    throw new ConfigError('FRAUD_TLS_CLIENT_CA_FILE', 'needs TLS: set FRAUD_TLS_CERT_FILE and FRAUD_TLS_KEY_FILE too');
  }
  const tokensFile = optionalPath(env, 'FRAUD_AUTH_TOKENS_FILE');
  const clientNames = (raw(env, 'FRAUD_AUTH_CLIENT_NAMES') ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (clientNames.length > 0 && clientCaFile === undefined) {
    throw new ConfigError('FRAUD_AUTH_CLIENT_NAMES', 'names client certificates, which only mutual TLS checks: set FRAUD_TLS_CLIENT_CA_FILE');
  }
  const credentials = tokensFile !== undefined || clientCaFile !== undefined;
  const policies = ['open', 'authenticated'] as const;
  const writes = oneOf(env, 'FRAUD_AUTH_WRITES', credentials ? 'authenticated' : 'open', policies);
  const reads = oneOf(env, 'FRAUD_AUTH_READS', 'open', policies);
  for (const [name, policy] of [['FRAUD_AUTH_WRITES', writes], ['FRAUD_AUTH_READS', reads]] as const) {
    if (policy === 'authenticated' && !credentials) {
      throw new ConfigError(name, 'is authenticated, but no caller could authenticate: set FRAUD_AUTH_TOKENS_FILE or FRAUD_TLS_CLIENT_CA_FILE');
    }
  }
  if (reads === 'authenticated' && writes === 'open') {
    throw new ConfigError('FRAUD_AUTH_WRITES', 'is open while FRAUD_AUTH_READS is authenticated: writes change every later score, so they cannot be more open than reads');
  }
  return {
    tls: certFile === undefined || keyFile === undefined ? undefined : { certFile, keyFile, clientCaFile },
    auth: { tokensFile, clientNames, writes, reads },
    securityReloadMs: seconds(env, 'FRAUD_TLS_RELOAD_SECONDS', 60, 0.1, 86_400),
    healthPort: raw(env, 'FRAUD_HEALTH_PORT') === undefined ? undefined : integer(env, 'FRAUD_HEALTH_PORT', 0, 0, 65535),
  };
}

function stateConfig(env: Env): StateConfig {
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
function redisSentinel(env: Env, url: string | undefined): RedisSentinelConfig | undefined {
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
function optionalRedisUrl(env: Env, name: string): string | undefined {
  const url = optionalUrl(env, name, ['redis', 'rediss'], 'a redis:// or rediss:// URL');
  if (url === undefined) return undefined;
  if (url.password !== '') throw new ConfigError(name, 'must not hold a password; set FRAUD_REDIS_PASSWORD (from a Secret)');
  if (url.hostname === '') throw new ConfigError(name, `must name a host, got ${shown(url.toString())}`);
  return url.toString();
}

/** Cluster mode; a Cluster has database 0 only, so a URL naming another is refused. */
function redisCluster(env: Env, url: string | undefined): boolean {
  const cluster = boolean(env, 'FRAUD_REDIS_CLUSTER', false);
  const database = url === undefined ? '' : new URL(url).pathname.replace(/^\//, '');
  if (cluster && database !== '' && database !== '0') {
    throw new ConfigError('FRAUD_REDIS_CLUSTER', `a Redis Cluster has database 0 only; FRAUD_REDIS_URL names database ${database}`);
  }
  return cluster;
}

/** A key prefix without braces: every key carries its own {hash tag}, and a brace in the prefix would put all keys in one Cluster slot. */
function redisKeyPrefix(env: Env, name: string): string {
  const value = text(env, name, 'fraud:');
  if (/[{}]/.test(value)) throw new ConfigError(name, `must not contain { or } (keys carry their own hash tags), got ${JSON.stringify(value)}`);
  return value;
}
/**
 * Defaults sized for the chart's 512 MiB memory limit with room to spare
 * (`npm run bench` measures peak RSS against 256 MB; docs/benchmark.md). A
 * transaction in flight costs about 0.6 KB while it is scored and about
 * 0.35 KB while its answer waits for a client that does not read (the
 * decoded request stays alive with its call), so 60,000 of them stay under
 * 40 MB; one connection gets a third of that, so one misbehaving client
 * cannot starve the others.
 */
export const DEFAULT_MAX_ROWS_IN_FLIGHT = 60_000;
export const DEFAULT_MAX_ROWS_IN_FLIGHT_PER_CONNECTION = 10_000;
/**
 * Far longer than reading any answer takes (a 10,000-transaction answer is
 * about 1.5 MB), and short enough that answers a client leaves unread give
 * their rows back soon.
 */
export const DEFAULT_UNREAD_ANSWER_SECONDS = 10;
/**
 * Health Watch streams: plenty for probes and load balancers (one or two per
 * connection); a stream costs about 13 KB, so the process's bound is about 13 MB.
 */
export const DEFAULT_HEALTH_MAX_WATCHES = 1000;
export const DEFAULT_HEALTH_MAX_WATCHES_PER_CONNECTION = 10;
/** Enough for ghz at c=64 on one connection; grpc-go and Envoy use 100 too. */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 100;
/**
 * Streams open at once in the process: 40 connections with 100 each; about
 * 50 MB at some 12 KB a stream. Past 40 connections, each is told a smaller
 * share (see src/api/streamBudget.ts).
 */
export const DEFAULT_MAX_CONCURRENT_STREAMS_TOTAL = 4_000;
/** Node's own default; admission control keeps scoring answers far below it. */
export const DEFAULT_MAX_SESSION_MEMORY_MB = 10;
/** A few minutes: after the HPA adds replicas, existing clients spread to them this soon. */
export const DEFAULT_MAX_CONNECTION_AGE_SECONDS = 300;
/** Far longer than any call (a 10,000-transaction batch takes tens of milliseconds). */
export const DEFAULT_MAX_CONNECTION_AGE_GRACE_SECONDS = 30;

/** FRAUD_* variables the service does not know: most likely typos worth a warning. */
export function unknownVariables(env: Env): string[] {
  const known = new Set<string>(CONFIG_VARIABLES);
  return Object.keys(env).filter((name) => name.startsWith('FRAUD_') && !known.has(name));
}

/**
 * A value as it may be shown in an error: any user:password@ part of a URL is
 * masked, so a secret put in the wrong place never reaches a log.
 */
function shown(value: string): string {
  return JSON.stringify(value.replace(/(\/\/)[^/@\s]*@/, '$1***@'));
}

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/**
 * The two admission limits. One connection's share cannot exceed the whole,
 * and must hold the largest batch, or such a batch could never be taken.
 */
function rowsInFlight(env: Env, maxBatchSize: number): Config['rowsInFlight'] {
  const max = integer(env, 'FRAUD_MAX_ROWS_IN_FLIGHT', Math.max(DEFAULT_MAX_ROWS_IN_FLIGHT, maxBatchSize), 1, 10_000_000);
  if (max < maxBatchSize) {
    throw new ConfigError('FRAUD_MAX_ROWS_IN_FLIGHT', `must be at least FRAUD_MAX_BATCH_SIZE (${maxBatchSize}), or a full batch could never be taken; got ${max}`);
  }
  const perConnectionDefault = Math.min(max, Math.max(DEFAULT_MAX_ROWS_IN_FLIGHT_PER_CONNECTION, maxBatchSize));
  const maxPerConnection = integer(env, 'FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION', perConnectionDefault, 1, 10_000_000);
  if (maxPerConnection > max) {
    throw new ConfigError('FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION', `must be at most FRAUD_MAX_ROWS_IN_FLIGHT (${max}), got ${maxPerConnection}`);
  }
  if (maxPerConnection < maxBatchSize) {
    throw new ConfigError(
      'FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION',
      `must be at least FRAUD_MAX_BATCH_SIZE (${maxBatchSize}), or a full batch could never be taken; got ${maxPerConnection}`,
    );
  }
  return { max, maxPerConnection };
}

/** The Watch stream limits; one connection's cannot exceed the whole. */
function healthWatches(env: Env): Config['healthWatches'] {
  const max = integer(env, 'FRAUD_HEALTH_MAX_WATCHES', DEFAULT_HEALTH_MAX_WATCHES, 1, 1_000_000);
  const maxPerConnection = integer(env, 'FRAUD_HEALTH_MAX_WATCHES_PER_CONNECTION', Math.min(max, DEFAULT_HEALTH_MAX_WATCHES_PER_CONNECTION), 1, 1_000_000);
  if (maxPerConnection > max) {
    throw new ConfigError('FRAUD_HEALTH_MAX_WATCHES_PER_CONNECTION', `must be at most FRAUD_HEALTH_MAX_WATCHES (${max}), got ${maxPerConnection}`);
  }
  return { max, maxPerConnection };
}

function text(env: Env, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!/^-?\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** A number of seconds (fractions allowed), returned in milliseconds. */
function seconds(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback * 1000;
  const parsed = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || parsed < min || parsed > max) {
    throw new ConfigError(name, `must be a number of seconds from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return Math.round(parsed * 1000);
}

function fraction(env: Env, name: string, fallback: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || parsed > 1) {
    throw new ConfigError(name, `must be a number from 0 to 1, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const value = raw(env, name)?.toLowerCase();
  if (value === undefined) return fallback;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new ConfigError(name, `must be true or false, got ${JSON.stringify(value)}`);
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const match = allowed.find((candidate) => candidate === value.toLowerCase());
  if (match === undefined) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return match;
}

function optionalPath(env: Env, name: string): string | undefined {
  const value = raw(env, name);
  return value === undefined ? undefined : resolve(value);
}

/** A URL of one of `schemes` (e.g. `http`, `https`; `what` names them), or undefined when the variable is unset. */
function optionalUrl(env: Env, name: string, schemes: readonly string[], what: string): URL | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  const refusal = `must be ${what}, got ${shown(value)}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, refusal);
  }
  if (!schemes.some((scheme) => url.protocol === `${scheme}:`)) throw new ConfigError(name, refusal);
  return url;
}

function optionalHttpUrl(env: Env, name: string): string | undefined {
  const url = optionalUrl(env, name, ['http', 'https'], 'an http:// or https:// URL');
  if (url === undefined) return undefined;
  if (url.username !== '' || url.password !== '') {
    // Credentials come from the AWS provider chain, never from a URL that ends up in logs.
    throw new ConfigError(name, 'must not hold credentials; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  }
  return url.toString().replace(/\/$/, '');
}

/**
 * A model manifest location: `s3://bucket/key.json` or `file:///path.json`; a
 * plain path is a local file, relative to the working directory.
 */
function modelUri(env: Env, name: string, fallbackPath: string): URL {
  const value = raw(env, name);
  const allowed = 'must be s3://<bucket>/<key>.json, file:///<path>.json or a path to a manifest .json';
  if (value === undefined) return pathToFileURL(fallbackPath);
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    if (!value.endsWith('.json')) throw new ConfigError(name, `${allowed}, got ${shown(value)}`);
    return pathToFileURL(isAbsolute(value) ? value : resolve(value));
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, `${allowed}, got ${shown(value)}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new ConfigError(name, 'must not hold credentials; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  }
  if (url.protocol === 's3:') {
    const key = decodeURIComponent(url.pathname.replace(/^\//, ''));
    if (url.hostname === '' || key === '' || !key.endsWith('.json')) throw new ConfigError(name, `${allowed}, got ${shown(value)}`);
    return url;
  }
  if (url.protocol === 'file:' && url.pathname.endsWith('.json')) return url;
  throw new ConfigError(name, `${allowed}, got ${shown(value)}`);
}

export interface DecisionLogConfig {
  /** The service instance named in every record and file name (the pod name in Kubernetes). */
  readonly instance: string;
  /** Records each sink buffers at most; beyond, new records are dropped and counted. */
  readonly bufferRecords: number;
  /** Records per Kafka send or file append at most. */
  readonly batchRecords: number;
  /** Local JSON Lines files (gzip), or undefined when off. */
  readonly file: { readonly dir: string; readonly maxBytes: number; readonly rotateMs: number; readonly keepFiles: number } | undefined;
  /** Apache Kafka, or undefined when off. */
  readonly kafka: KafkaDecisionLogConfig | undefined;
  /** Object storage (S3, MinIO, lakeFS's S3 gateway; endpoint and credentials as for models), or undefined when off. */
  readonly s3: { readonly bucket: string; readonly prefix: string; readonly objectRecords: number; readonly flushMs: number } | undefined;
}

export interface KafkaDecisionLogConfig {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly tls: boolean;
  readonly caFile: string | undefined;
  readonly sasl: { readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; readonly username: string; readonly password: string } | undefined;
}

/**
 * A buffered record keeps its call's decoded transaction, feature row and
 * probabilities referenced until the sink has written it: measured about
 * 0.2 KB a record from batch calls and 0.7 KB from unary calls, so 50,000
 * are at most about 35 MB, several seconds of a busy replica's calls.
 */
export const DEFAULT_DECISION_LOG_BUFFER_RECORDS = 50_000;

/**
 * Each sink is on when its location is set: FRAUD_DECISION_LOG_DIR (files),
 * FRAUD_DECISION_LOG_KAFKA_BROKERS (Kafka). The settings of a sink that is
 * off are refused rather than ignored.
 */
function decisionLogConfig(env: Env): DecisionLogConfig {
  const dir = optionalPath(env, 'FRAUD_DECISION_LOG_DIR');
  if (dir === undefined) {
    for (const name of ['FRAUD_DECISION_LOG_FILE_MAX_BYTES', 'FRAUD_DECISION_LOG_FILE_ROTATE_SECONDS', 'FRAUD_DECISION_LOG_FILE_KEEP']) {
      if (raw(env, name) !== undefined) throw new ConfigError(name, 'is used only with FRAUD_DECISION_LOG_DIR, which is unset');
    }
  }
  const bufferRecords = integer(env, 'FRAUD_DECISION_LOG_BUFFER_RECORDS', DEFAULT_DECISION_LOG_BUFFER_RECORDS, 1, 10_000_000);
  // kafkajs encodes a send on the event loop: 500 records keep that to a millisecond or two.
  const batchRecords = integer(env, 'FRAUD_DECISION_LOG_BATCH_RECORDS', Math.min(bufferRecords, 500), 1, 100_000);
  if (batchRecords > bufferRecords) {
    throw new ConfigError('FRAUD_DECISION_LOG_BATCH_RECORDS', `must be at most FRAUD_DECISION_LOG_BUFFER_RECORDS (${bufferRecords}), got ${batchRecords}`);
  }
  return {
    instance: text(env, 'FRAUD_DECISION_LOG_INSTANCE', env.HOSTNAME ?? hostname()),
    bufferRecords,
    batchRecords,
    file:
      dir === undefined
        ? undefined
        : {
            dir,
            maxBytes: integer(env, 'FRAUD_DECISION_LOG_FILE_MAX_BYTES', 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024 * 1024),
            rotateMs: seconds(env, 'FRAUD_DECISION_LOG_FILE_ROTATE_SECONDS', 3600, 1, 7 * 86_400),
            keepFiles: integer(env, 'FRAUD_DECISION_LOG_FILE_KEEP', 48, 1, 100_000),
          },
    kafka: kafkaDecisionLogConfig(env),
    s3: s3DecisionLogConfig(env, bufferRecords),
  };
}

/** s3://<bucket>/<prefix>: with lakeFS, s3://<repository>/<branch>/<path>. */
function s3DecisionLogConfig(env: Env, bufferRecords: number): DecisionLogConfig['s3'] {
  const url = optionalUrl(env, 'FRAUD_DECISION_LOG_S3_URI', ['s3'], 's3://<bucket>/<prefix> (with lakeFS: s3://<repository>/<branch>/<path>)');
  if (url === undefined) {
    for (const name of ['FRAUD_DECISION_LOG_S3_OBJECT_RECORDS', 'FRAUD_DECISION_LOG_S3_FLUSH_SECONDS']) {
      if (raw(env, name) !== undefined) throw new ConfigError(name, 'is used only with FRAUD_DECISION_LOG_S3_URI, which is unset');
    }
    return undefined;
  }
  if (url.username !== '' || url.password !== '') throw new ConfigError('FRAUD_DECISION_LOG_S3_URI', 'must not hold credentials; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  if (url.hostname === '') throw new ConfigError('FRAUD_DECISION_LOG_S3_URI', `must name a bucket, got ${shown(url.toString())}`);
  const objectRecords = integer(env, 'FRAUD_DECISION_LOG_S3_OBJECT_RECORDS', Math.min(bufferRecords, 10_000), 1, 1_000_000);
  if (objectRecords > bufferRecords) {
    throw new ConfigError('FRAUD_DECISION_LOG_S3_OBJECT_RECORDS', `must be at most FRAUD_DECISION_LOG_BUFFER_RECORDS (${bufferRecords}), got ${objectRecords}`);
  }
  return {
    bucket: url.hostname,
    prefix: decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, ''),
    objectRecords,
    flushMs: seconds(env, 'FRAUD_DECISION_LOG_S3_FLUSH_SECONDS', 60, 0, 86_400),
  };
}

function kafkaDecisionLogConfig(env: Env): KafkaDecisionLogConfig | undefined {
  const list = raw(env, 'FRAUD_DECISION_LOG_KAFKA_BROKERS');
  const others = ['FRAUD_DECISION_LOG_KAFKA_TOPIC', 'FRAUD_DECISION_LOG_KAFKA_TLS', 'FRAUD_DECISION_LOG_KAFKA_CA_FILE', 'FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM', 'FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME', 'FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD'];
  if (list === undefined) {
    for (const name of others) {
      if (raw(env, name) !== undefined) throw new ConfigError(name, 'is used only with FRAUD_DECISION_LOG_KAFKA_BROKERS, which is unset');
    }
    return undefined;
  }
  const brokers = list.split(',').map((entry) => {
    const broker = entry.trim();
    const match = /^(?:\[[0-9a-fA-F:.]+\]|[^\s:[\]/@]+):(\d{1,5})$/.exec(broker);
    if (match === null || Number(match[1]) < 1 || Number(match[1]) > 65_535) {
      throw new ConfigError('FRAUD_DECISION_LOG_KAFKA_BROKERS', `must be a comma-separated list of host:port, got ${shown(broker)}`);
    }
    return broker;
  });
  const topic = text(env, 'FRAUD_DECISION_LOG_KAFKA_TOPIC', 'fraud-decisions');
  // Kafka's own rule for topic names.
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic) || topic === '.' || topic === '..') {
    throw new ConfigError('FRAUD_DECISION_LOG_KAFKA_TOPIC', `must be a Kafka topic name (letters, digits, '.', '_', '-'; at most 249), got ${JSON.stringify(topic)}`);
  }
  const caFile = optionalPath(env, 'FRAUD_DECISION_LOG_KAFKA_CA_FILE');
  const tls = boolean(env, 'FRAUD_DECISION_LOG_KAFKA_TLS', caFile !== undefined);
  if (caFile !== undefined && !tls) throw new ConfigError('FRAUD_DECISION_LOG_KAFKA_CA_FILE', 'is used only with TLS; unset FRAUD_DECISION_LOG_KAFKA_TLS=false');
  const mechanism = raw(env, 'FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM') === undefined
    ? undefined
    : oneOf(env, 'FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM', 'plain', ['plain', 'scram-sha-256', 'scram-sha-512'] as const);
  const username = raw(env, 'FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME');
  // The password is taken as it is (spaces and all), and never shown in an error.
  const password = env.FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD;
  if (mechanism === undefined) {
    for (const name of ['FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME', 'FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD']) {
      if (raw(env, name) !== undefined) throw new ConfigError(name, 'is used only with FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM, which is unset');
    }
  } else {
    if (username === undefined) throw new ConfigError('FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME', `is required with FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM=${mechanism}`);
    if (password === undefined || password === '') throw new ConfigError('FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD', `is required with FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM=${mechanism} (from a Secret)`);
  }
  return {
    brokers,
    topic,
    tls,
    caFile,
    sasl: mechanism === undefined ? undefined : { mechanism, username: username ?? '', password: password ?? '' },
  };
}

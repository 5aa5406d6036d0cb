import { join } from 'node:path';
import type { Level } from 'pino';
import type { ModelTask } from '../models/modelTask.js';
import { packageRoot } from '../packageRoot.js';
import { tracingConfig, type TracingConfig } from './tracingConfig.js';
import { DECISION_LOG_VARIABLES, decisionLogConfig, type DecisionLogConfig } from './decisionLogConfig.js';
import { boolean, ConfigError, fraction, integer, oneOf, optionalHttpUrl, optionalPath, seconds, text, type Env } from './envValues.js';
import { securityConfig, type AuthConfig, type TlsConfig } from './securityConfig.js';
import { stateConfig, type StateConfig } from './stateConfig.js';
import { modelUri } from './modelUri.js';
import { SHADOW_VARIABLES, shadowConfig, type ShadowConfig } from './shadowConfig.js';

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
  /** Transactions of one PredictStream received and not yet answered and written; past it the stream is not read (FRAUD_MAX_ROWS_IN_FLIGHT_PER_STREAM). */
  readonly maxRowsInFlightPerStream: number;
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
  /** Challenger models scored in the shadow of the serving ones (none unless configured). */
  readonly shadow: ShadowConfig;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

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
  'FRAUD_QUALITY_MAX_PENDING_SCORES',
  'FRAUD_QUALITY_RETENTION_DAYS',
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
  'FRAUD_MAX_ROWS_IN_FLIGHT_PER_STREAM',
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
  ...SHADOW_VARIABLES,
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
    maxRowsInFlightPerStream: integer(env, 'FRAUD_MAX_ROWS_IN_FLIGHT_PER_STREAM', DEFAULT_MAX_ROWS_IN_FLIGHT_PER_STREAM, 1, 100_000),
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
    shadow: shadowConfig(env),
  };
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
export const DEFAULT_MAX_ROWS_IN_FLIGHT_PER_STREAM = 1_000;
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

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CONFIG_VARIABLES, loadConfig, type Config } from '../../src/config/config.js';
import { packageRoot } from '../../src/packageRoot.js';

/** How docs/configuration.md writes a variable's default, and how the config holds it. */
type Unit =
  | 'text'
  | 'number'
  /** Seconds in the docs, milliseconds in the config. */
  | 'milliseconds'
  | 'boolean'
  /** A path under the package (the bundled models), held as a file:// URL. */
  | 'bundled';

interface Case {
  readonly read: (config: Config) => unknown;
  readonly unit: Unit;
  /** A value other than the default, what the config must hold for it, and other variables it needs. */
  readonly set: string;
  readonly expected: unknown;
  readonly with?: Readonly<Record<string, string>>;
  /** Other variables the value needs that cannot be set without it (a key file needs its certificate file). */
  readonly setWith?: Readonly<Record<string, string>>;
}

const TLS_FILES = { FRAUD_TLS_CERT_FILE: '/etc/tls/tls.crt', FRAUD_TLS_KEY_FILE: '/etc/tls/tls.key' };

/** Every variable of the service: how to read it from the config, and a value to set it to. */
const CASES: Readonly<Record<(typeof CONFIG_VARIABLES)[number], Case>> = {
  FRAUD_GRPC_HOST: { read: (c) => c.grpc.host, unit: 'text', set: '127.0.0.2', expected: '127.0.0.2' },
  FRAUD_GRPC_PORT: { read: (c) => c.grpc.port, unit: 'number', set: '6000', expected: 6000 },
  FRAUD_MAX_MESSAGE_BYTES: { read: (c) => c.grpc.maxMessageBytes, unit: 'number', set: '2048', expected: 2048 },
  FRAUD_METRICS_HOST: { read: (c) => c.metrics.host, unit: 'text', set: '10.0.0.1', expected: '10.0.0.1' },
  FRAUD_METRICS_PORT: { read: (c) => c.metrics.port, unit: 'number', set: '6001', expected: 6001 },
  FRAUD_LOG_LEVEL: { read: (c) => c.logLevel, unit: 'text', set: 'WARN', expected: 'warn' },
  FRAUD_MAX_BATCH_SIZE: { read: (c) => c.maxBatchSize, unit: 'number', set: '500', expected: 500 },
  FRAUD_SHUTDOWN_GRACE_SECONDS: { read: (c) => c.shutdownGraceMs, unit: 'milliseconds', set: '2.5', expected: 2500 },
  FRAUD_BINARY_MODEL_URI: { read: (c) => c.modelUris.binary.href, unit: 'bundled', set: 's3://fraud-models/main/b.json', expected: 's3://fraud-models/main/b.json' },
  FRAUD_SCENARIO_MODEL_URI: { read: (c) => c.modelUris.multiclass.href, unit: 'bundled', set: 'file:///srv/models/s.json', expected: 'file:///srv/models/s.json' },
  FRAUD_MODEL_POLL_SECONDS: { read: (c) => c.modelPoll.intervalMs, unit: 'milliseconds', set: '0', expected: 0 },
  FRAUD_MODEL_POLL_JITTER: { read: (c) => c.modelPoll.jitter, unit: 'number', set: '0.25', expected: 0.25 },
  FRAUD_MODEL_RETRY_MAX_SECONDS: { read: (c) => c.modelPoll.retryMaxMs, unit: 'milliseconds', set: '5', expected: 5000 },
  FRAUD_MODEL_PENDING_SECONDS: { read: (c) => c.modelPoll.pendingTimeoutMs, unit: 'milliseconds', set: '7', expected: 7000 },
  FRAUD_MODEL_CACHE_DIR: { read: (c) => c.modelCacheDir, unit: 'text', set: '/var/cache/fraud', expected: '/var/cache/fraud' },
  FRAUD_S3_ENDPOINT: { read: (c) => c.s3.endpoint, unit: 'text', set: 'http://minio:9000/', expected: 'http://minio:9000' },
  FRAUD_S3_REGION: { read: (c) => c.s3.region, unit: 'text', set: 'ru-central1', expected: 'ru-central1', with: { AWS_REGION: 'eu-west-3' } },
  FRAUD_S3_FORCE_PATH_STYLE: { read: (c) => c.s3.forcePathStyle, unit: 'boolean', set: 'false', expected: false },
  FRAUD_LAKEFS_API_ENDPOINT: { read: (c) => c.lakefsApiEndpoint, unit: 'text', set: 'http://lakefs:8000/api/v1', expected: 'http://lakefs:8000/api/v1' },
  FRAUD_ONNX_INTRA_OP_THREADS: { read: (c) => c.onnxIntraOpThreads, unit: 'number', set: '4', expected: 4 },
  FRAUD_STATE_STORE: { read: (c) => c.state.store, unit: 'text', set: 'none', expected: 'none' },
  FRAUD_STATE_LATENESS_SECONDS: { read: (c) => c.state.latenessSeconds, unit: 'number', set: '3600', expected: 3600 },
  FRAUD_STATE_MAX_FUTURE_SECONDS: { read: (c) => c.state.maxFutureSeconds, unit: 'number', set: '60', expected: 60 },
  FRAUD_STATE_MAX_ENTITIES: { read: (c) => c.state.maxEntities, unit: 'number', set: '5000', expected: 5000 },
  FRAUD_STATE_MAX_TRANSACTIONS: { read: (c) => c.state.maxTransactions, unit: 'number', set: '9000', expected: 9000 },
  FRAUD_STATE_SNAPSHOT_PATH: { read: (c) => c.state.snapshotPath, unit: 'text', set: '/var/lib/fraud/state.snap', expected: '/var/lib/fraud/state.snap' },
  FRAUD_STATE_SNAPSHOT_SECONDS: { read: (c) => c.state.snapshotIntervalMs, unit: 'milliseconds', set: '0.5', expected: 500 },
  FRAUD_QUALITY_MAX_PENDING_SCORES: { read: (c) => c.state.maxPendingScores, unit: 'number', set: '500', expected: 500 },
  FRAUD_QUALITY_RETENTION_DAYS: { read: (c) => c.state.qualityRetentionDays, unit: 'number', set: '60', expected: 60 },
  FRAUD_REDIS_URL: { read: (c) => c.state.redis.url, unit: 'text', set: 'redis://redis:6379/0', expected: 'redis://redis:6379/0' },
  FRAUD_REDIS_PASSWORD: { read: (c) => c.state.redis.password, unit: 'text', set: 's3cret', expected: 's3cret' },
  FRAUD_REDIS_TIMEOUT_MS: { read: (c) => c.state.redis.timeoutMs, unit: 'number', set: '250', expected: 250 },
  FRAUD_REDIS_KEY_PREFIX: { read: (c) => c.state.redis.keyPrefix, unit: 'text', set: 'tenant-a:', expected: 'tenant-a:' },
  FRAUD_REDIS_CLUSTER: { read: (c) => c.state.redis.cluster, unit: 'boolean', set: 'true', expected: true },
  FRAUD_REDIS_WAIT_REPLICAS: { read: (c) => c.state.redis.waitReplicas, unit: 'number', set: '1', expected: 1 },
  FRAUD_REDIS_CHECK_SECONDS: { read: (c) => c.state.redis.checkIntervalMs, unit: 'milliseconds', set: '5', expected: 5000 },
  FRAUD_REDIS_ALLOW_EVICTION: { read: (c) => c.state.redis.allowEviction, unit: 'boolean', set: 'true', expected: true },
  FRAUD_REDIS_SENTINELS: {
    read: (c) => c.state.redis.sentinel?.nodes.map(({ host, port }) => `${host}:${port}`).join(','),
    unit: 'text',
    set: 'sentinel-0:26379, [fd00::1]:26380',
    expected: 'sentinel-0:26379,fd00::1:26380',
  },
  FRAUD_REDIS_SENTINEL_NAME: { read: (c) => c.state.redis.sentinel?.name, unit: 'text', set: 'fraud-primary', expected: 'fraud-primary', with: { FRAUD_REDIS_SENTINELS: 's:26379' } },
  FRAUD_REDIS_SENTINEL_PASSWORD: { read: (c) => c.state.redis.sentinel?.password, unit: 'text', set: 's3cret', expected: 's3cret', with: { FRAUD_REDIS_SENTINELS: 's:26379' } },
  FRAUD_GRPC_MAX_CONCURRENT_STREAMS: { read: (c) => c.grpc.maxConcurrentStreams, unit: 'number', set: '8', expected: 8 },
  FRAUD_GRPC_MAX_SESSION_MEMORY_MB: { read: (c) => c.grpc.maxSessionMemoryMb, unit: 'number', set: '64', expected: 64 },
  FRAUD_GRPC_MAX_CONNECTION_AGE_SECONDS: { read: (c) => c.grpc.maxConnectionAgeMs, unit: 'milliseconds', set: '60', expected: 60_000 },
  FRAUD_GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS: { read: (c) => c.grpc.maxConnectionAgeGraceMs, unit: 'milliseconds', set: '5', expected: 5000 },
  FRAUD_MAX_ROWS_IN_FLIGHT: { read: (c) => c.rowsInFlight.max, unit: 'number', set: '70000', expected: 70_000 },
  FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION: { read: (c) => c.rowsInFlight.maxPerConnection, unit: 'number', set: '20000', expected: 20_000 },
  FRAUD_MAX_ROWS_IN_FLIGHT_PER_STREAM: { read: (c) => c.maxRowsInFlightPerStream, unit: 'number', set: '200', expected: 200 },
  FRAUD_MODEL_INFO_DETAILS: { read: (c) => c.modelInfoDetails, unit: 'boolean', set: 'true', expected: true },
  FRAUD_UNREAD_ANSWER_SECONDS: { read: (c) => c.unreadAnswerMs, unit: 'milliseconds', set: '2.5', expected: 2500 },
  FRAUD_HEALTH_MAX_WATCHES: { read: (c) => c.healthWatches.max, unit: 'number', set: '50', expected: 50 },
  FRAUD_GRPC_MAX_CONCURRENT_STREAMS_TOTAL: { read: (c) => c.grpc.maxConcurrentStreamsTotal, unit: 'number', set: '800', expected: 800 },
  FRAUD_MAX_BATCH_ROWS_SCORING: { read: (c) => c.maxBatchRowsScoring, unit: 'number', set: '20000', expected: 20_000 },
  FRAUD_HEALTH_MAX_WATCHES_PER_CONNECTION: { read: (c) => c.healthWatches.maxPerConnection, unit: 'number', set: '3', expected: 3 },
  FRAUD_TLS_CERT_FILE: { read: (c) => c.tls?.certFile, unit: 'text', set: '/etc/tls/tls.crt', expected: '/etc/tls/tls.crt', setWith: { FRAUD_TLS_KEY_FILE: '/etc/tls/tls.key' } },
  FRAUD_TLS_KEY_FILE: { read: (c) => c.tls?.keyFile, unit: 'text', set: '/etc/tls/tls.key', expected: '/etc/tls/tls.key', setWith: { FRAUD_TLS_CERT_FILE: '/etc/tls/tls.crt' } },
  FRAUD_TLS_CLIENT_CA_FILE: { read: (c) => c.tls?.clientCaFile, unit: 'text', set: '/etc/tls/ca.crt', expected: '/etc/tls/ca.crt', with: TLS_FILES },
  FRAUD_TLS_RELOAD_SECONDS: { read: (c) => c.securityReloadMs, unit: 'milliseconds', set: '0.5', expected: 500 },
  FRAUD_AUTH_TOKENS_FILE: { read: (c) => c.auth.tokensFile, unit: 'text', set: '/etc/fraud/tokens', expected: '/etc/fraud/tokens' },
  FRAUD_AUTH_CLIENT_NAMES: {
    read: (c) => (c.auth.clientNames.length === 0 ? undefined : c.auth.clientNames.join(',')),
    unit: 'text',
    set: 'payments, spiffe://example.org/chargebacks',
    expected: 'payments,spiffe://example.org/chargebacks',
    setWith: { ...TLS_FILES, FRAUD_TLS_CLIENT_CA_FILE: '/etc/tls/ca.crt' },
  },
  FRAUD_AUTH_WRITES: { read: (c) => c.auth.writes, unit: 'text', set: 'open', expected: 'open', with: { FRAUD_AUTH_TOKENS_FILE: '/etc/fraud/tokens' } },
  FRAUD_HEALTH_PORT: { read: (c) => c.healthPort, unit: 'number', set: '8086', expected: 8086 },
  FRAUD_AUTH_READS: { read: (c) => c.auth.reads, unit: 'text', set: 'authenticated', expected: 'authenticated', with: { FRAUD_AUTH_TOKENS_FILE: '/etc/fraud/tokens' } },
  FRAUD_DECISION_LOG_INSTANCE: {
    // The default is the host's name, which differs from machine to machine.
    read: (c) => (c.decisionLog.instance === hostname() ? '$HOSTNAME' : c.decisionLog.instance),
    unit: 'text',
    set: 'fraud-scoring-7f9c-2',
    expected: 'fraud-scoring-7f9c-2',
  },
  FRAUD_DECISION_LOG_BUFFER_RECORDS: { read: (c) => c.decisionLog.bufferRecords, unit: 'number', set: '2000', expected: 2000 },
  FRAUD_DECISION_LOG_BATCH_RECORDS: { read: (c) => c.decisionLog.batchRecords, unit: 'number', set: '250', expected: 250 },
  FRAUD_DECISION_LOG_DIR: { read: (c) => c.decisionLog.file?.dir, unit: 'text', set: '/var/log/fraud', expected: '/var/log/fraud' },
  FRAUD_DECISION_LOG_FILE_MAX_BYTES: { read: (c) => c.decisionLog.file?.maxBytes, unit: 'number', set: '4096', expected: 4096, with: { FRAUD_DECISION_LOG_DIR: '/d' } },
  FRAUD_DECISION_LOG_FILE_ROTATE_SECONDS: { read: (c) => c.decisionLog.file?.rotateMs, unit: 'milliseconds', set: '60', expected: 60_000, with: { FRAUD_DECISION_LOG_DIR: '/d' } },
  FRAUD_DECISION_LOG_FILE_FLUSH_SECONDS: { read: (c) => c.decisionLog.file?.flushMs, unit: 'milliseconds', set: '0.25', expected: 250, with: { FRAUD_DECISION_LOG_DIR: '/d' } },
  FRAUD_DECISION_LOG_FILE_KEEP: { read: (c) => c.decisionLog.file?.keepFiles, unit: 'number', set: '3', expected: 3, with: { FRAUD_DECISION_LOG_DIR: '/d' } },
  FRAUD_DECISION_LOG_KAFKA_BROKERS: {
    read: (c) => c.decisionLog.kafka?.brokers.join(','),
    unit: 'text',
    set: 'kafka-0:9092, [fd00::1]:9093',
    expected: 'kafka-0:9092,[fd00::1]:9093',
  },
  FRAUD_DECISION_LOG_KAFKA_TOPIC: { read: (c) => c.decisionLog.kafka?.topic, unit: 'text', set: 'decisions.v1', expected: 'decisions.v1', with: { FRAUD_DECISION_LOG_KAFKA_BROKERS: 'k:9092' } },
  FRAUD_DECISION_LOG_KAFKA_TLS: { read: (c) => c.decisionLog.kafka?.tls, unit: 'boolean', set: 'true', expected: true, with: { FRAUD_DECISION_LOG_KAFKA_BROKERS: 'k:9092' } },
  FRAUD_DECISION_LOG_KAFKA_CA_FILE: { read: (c) => c.decisionLog.kafka?.caFile, unit: 'text', set: '/etc/kafka/ca.pem', expected: '/etc/kafka/ca.pem', with: { FRAUD_DECISION_LOG_KAFKA_BROKERS: 'k:9092' } },
  FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM: {
    read: (c) => c.decisionLog.kafka?.sasl?.mechanism,
    unit: 'text',
    set: 'SCRAM-SHA-512',
    expected: 'scram-sha-512',
    // The three SASL variables go together: each case sets the other two, and its own to another value first.
    with: { FRAUD_DECISION_LOG_KAFKA_BROKERS: 'k:9092', FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM: 'plain', FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME: 'u', FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD: 'p' },
  },
  FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME: {
    read: (c) => c.decisionLog.kafka?.sasl?.username,
    unit: 'text',
    set: 'fraud-scoring',
    expected: 'fraud-scoring',
    with: { FRAUD_DECISION_LOG_KAFKA_BROKERS: 'k:9092', FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM: 'plain', FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME: 'u', FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD: 'p' },
  },
  FRAUD_DECISION_LOG_S3_URI: { read: (c) => c.decisionLog.s3 && `${c.decisionLog.s3.bucket}|${c.decisionLog.s3.prefix}`, unit: 'text', set: 's3://fraud-log/main/decisions/', expected: 'fraud-log|main/decisions' },
  FRAUD_DECISION_LOG_S3_OBJECT_RECORDS: { read: (c) => c.decisionLog.s3?.objectRecords, unit: 'number', set: '500', expected: 500, with: { FRAUD_DECISION_LOG_S3_URI: 's3://b/p' } },
  FRAUD_DECISION_LOG_S3_FLUSH_SECONDS: { read: (c) => c.decisionLog.s3?.flushMs, unit: 'milliseconds', set: '5', expected: 5000, with: { FRAUD_DECISION_LOG_S3_URI: 's3://b/p' } },
  FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD: {
    read: (c) => c.decisionLog.kafka?.sasl?.password,
    unit: 'text',
    set: 's3cret',
    expected: 's3cret',
    with: { FRAUD_DECISION_LOG_KAFKA_BROKERS: 'k:9092', FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM: 'plain', FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME: 'u', FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD: 'p' },
  },
  FRAUD_BINARY_SHADOW_MODEL_URI: { read: (c) => c.shadow.modelUris.binary?.href, unit: 'text', set: 's3://fraud-models/candidate/b.json', expected: 's3://fraud-models/candidate/b.json' },
  FRAUD_SCENARIO_SHADOW_MODEL_URI: { read: (c) => c.shadow.modelUris.multiclass?.href, unit: 'text', set: 'file:///srv/models/s2.json', expected: 'file:///srv/models/s2.json' },
  FRAUD_SHADOW_MAX_ROWS_IN_FLIGHT: { read: (c) => c.shadow.maxRowsInFlight, unit: 'number', set: '10', expected: 10 },
  FRAUD_SHADOW_SHED_LOOP_BUSY: { read: (c) => c.shadow.shedLoopBusy, unit: 'number', set: '1', expected: 1 },
};

/** docs/configuration.md's table: each variable with the default it documents (undefined for "unset"). */
function documentedDefaults(): Map<string, string | undefined> {
  const table = readFileSync(join(packageRoot, 'docs', 'configuration.md'), 'utf8');
  const defaults = new Map<string, string | undefined>();
  for (const line of table.split('\n')) {
    if (!line.startsWith('| `FRAUD_')) continue;
    const [names = '', documented = ''] = line.split('|').slice(1, 3).map((cell) => cell.trim());
    const variables = names.split(' / ').map((name) => name.replaceAll('`', ''));
    // "`0.0.0.0` / `50051`" documents the two variables of "`FRAUD_GRPC_HOST` / `FRAUD_GRPC_PORT`" in order.
    const parts = variables.length > 1 ? documented.split(' / ') : [documented];
    variables.forEach((variable, index) => {
      const part = parts[index] ?? '';
      // The value is the last code span before any explanation: "`$AWS_REGION` or `us-east-1`" falls back to us-east-1.
      const spans = (part.split(/[;(]/)[0] ?? '').match(/`[^`]*`/g) ?? [];
      defaults.set(variable, part.startsWith('unset') ? undefined : spans.at(-1)?.slice(1, -1));
    });
  }
  return defaults;
}

function inConfigUnits(unit: Unit, documented: string): unknown {
  switch (unit) {
    case 'text':
      return documented;
    case 'number':
      return Number(documented);
    case 'milliseconds':
      return Number(documented) * 1000;
    case 'boolean':
      return documented === 'true';
    case 'bundled':
      return pathToFileURL(join(packageRoot, documented)).href;
  }
}

describe('config against the table of docs/configuration.md', () => {
  const documented = documentedDefaults();

  it('should document every variable the service reads, and read every variable it documents', () => {
    assert.deepEqual([...documented.keys()].sort(), [...CONFIG_VARIABLES].sort());
  });

  for (const variable of CONFIG_VARIABLES) {
    const entry = CASES[variable];

    it(`${variable}: should default to what docs/configuration.md says`, () => {
      assert.ok(documented.has(variable), `${variable} is not in the table of docs/configuration.md`);
      const value = documented.get(variable);
      assert.equal(entry.read(loadConfig({})), value === undefined ? undefined : inConfigUnits(entry.unit, value));
    });

    it(`${variable}: should be read when set`, () => {
      const defaults = entry.read(loadConfig(entry.with ?? {}));
      assert.notEqual(defaults, entry.expected, 'the value set must differ from the default, or the test proves nothing');
      assert.equal(entry.read(loadConfig({ ...entry.with, ...entry.setWith, [variable]: entry.set })), entry.expected);
    });
  }

  it('FRAUD_S3_REGION: should fall back to AWS_REGION, then AWS_DEFAULT_REGION, before us-east-1', () => {
    assert.equal(loadConfig({ AWS_REGION: 'eu-west-3', AWS_DEFAULT_REGION: 'eu-north-1' }).s3.region, 'eu-west-3');
    assert.equal(loadConfig({ AWS_DEFAULT_REGION: 'eu-north-1' }).s3.region, 'eu-north-1');
  });
});

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/config/envValues.js';
import { loadConfig, unknownVariables } from '../../src/config/config.js';
import { bundled } from '../helpers/paths.js';

describe('config', () => {
  it('should default to gRPC on 50051, metrics on 9464 and the bundled models', () => {
    const config = loadConfig({});
    assert.equal(config.grpc.port, 50051);
    assert.equal(config.metrics.port, 9464);
    assert.equal(config.maxBatchSize, 10_000);
    assert.equal(config.modelPoll.intervalMs, 30_000);
    assert.equal(config.modelCacheDir, undefined);
    assert.equal(fileURLToPath(config.modelUris.binary), bundled('fraud-binary'));
    assert.equal(fileURLToPath(config.modelUris.multiclass), bundled('fraud-scenario'));
  });

  it('should read every documented variable', () => {
    const config = loadConfig({
      FRAUD_GRPC_HOST: '127.0.0.1',
      FRAUD_GRPC_PORT: '6000',
      FRAUD_METRICS_PORT: '6001',
      FRAUD_LOG_LEVEL: 'WARN',
      FRAUD_MAX_BATCH_SIZE: '500',
      FRAUD_MAX_MESSAGE_BYTES: '2048',
      FRAUD_SHUTDOWN_GRACE_SECONDS: '2.5',
      FRAUD_BINARY_MODEL_URI: 's3://fraud-models/main/models/fraud-binary.json',
      FRAUD_SCENARIO_MODEL_URI: 'file:///srv/models/fraud-scenario.json',
      FRAUD_MODEL_POLL_SECONDS: '0',
      FRAUD_MODEL_CACHE_DIR: '/var/cache/fraud',
      FRAUD_S3_ENDPOINT: 'http://lakefs:8000/',
      FRAUD_S3_FORCE_PATH_STYLE: 'false',
      FRAUD_LAKEFS_API_ENDPOINT: 'http://lakefs:8000/api/v1',
    });
    assert.equal(config.grpc.host, '127.0.0.1');
    assert.equal(config.grpc.port, 6000);
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.maxBatchSize, 500);
    assert.equal(config.grpc.maxMessageBytes, 2048);
    assert.equal(config.shutdownGraceMs, 2500);
    assert.equal(config.modelUris.binary.href, 's3://fraud-models/main/models/fraud-binary.json');
    assert.equal(config.modelUris.multiclass.href, 'file:///srv/models/fraud-scenario.json');
    assert.equal(config.modelPoll.intervalMs, 0);
    assert.equal(config.modelCacheDir, '/var/cache/fraud');
    assert.equal(config.s3.endpoint, 'http://lakefs:8000');
    assert.equal(config.s3.forcePathStyle, false);
    assert.equal(config.lakefsApiEndpoint, 'http://lakefs:8000/api/v1');
  });

  const badValues: [string, string, RegExp][] = [
    ['FRAUD_GRPC_PORT', 'abc', /^FRAUD_GRPC_PORT: must be an integer from 0 to 65535, got "abc"$/],
    ['FRAUD_METRICS_PORT', '70000', /^FRAUD_METRICS_PORT: must be an integer from 0 to 65535/],
    ['FRAUD_LOG_LEVEL', 'loud', /^FRAUD_LOG_LEVEL: must be one of trace, debug, info, warn, error, fatal, silent/],
    ['FRAUD_MAX_BATCH_SIZE', '0', /^FRAUD_MAX_BATCH_SIZE: must be an integer from 1 to 100000/],
    ['FRAUD_SHUTDOWN_GRACE_SECONDS', '-1', /^FRAUD_SHUTDOWN_GRACE_SECONDS: must be a number of seconds/],
    ['FRAUD_MODEL_POLL_JITTER', '2', /^FRAUD_MODEL_POLL_JITTER: must be a number from 0 to 1/],
    ['FRAUD_S3_FORCE_PATH_STYLE', 'maybe', /^FRAUD_S3_FORCE_PATH_STYLE: must be true or false/],
    ['FRAUD_S3_ENDPOINT', 'ftp://example', /^FRAUD_S3_ENDPOINT: must be an http:\/\/ or https:\/\/ URL/],
    ['FRAUD_S3_ENDPOINT', 'http://key:secret@example', /^FRAUD_S3_ENDPOINT: must not hold credentials/],
    ['FRAUD_BINARY_MODEL_URI', 'http://example/model.json', /^FRAUD_BINARY_MODEL_URI: must be s3:\/\/<bucket>\/<key>\.json/],
    ['FRAUD_SCENARIO_MODEL_URI', 's3://bucket-only', /^FRAUD_SCENARIO_MODEL_URI: must be s3:/],
    ['FRAUD_SCENARIO_MODEL_URI', 'models/fraud-scenario.onnx', /^FRAUD_SCENARIO_MODEL_URI: must be s3:/],
  ];
  for (const [variable, value, message] of badValues) {
    it(`should refuse ${variable}=${value} with one line naming the variable`, () => {
      assert.throws(
        () => loadConfig({ [variable]: value }),
        (error: unknown) => error instanceof ConfigError && error.variable === variable && message.test(error.message) && !error.message.includes('\n'),
      );
    });
  }

  for (const [variable, value] of [
    ['FRAUD_S3_ENDPOINT', 'http://key:supersecret@example'],
    ['FRAUD_S3_ENDPOINT', 'htp://key:supersecret@example'],
    ['FRAUD_LAKEFS_API_ENDPOINT', 'ftp://key:supersecret@example/api/v1'],
    ['FRAUD_BINARY_MODEL_URI', 's3://AKIAEXAMPLE:supersecret@bucket/models/fraud-binary.json'],
    ['FRAUD_SCENARIO_MODEL_URI', 'http://key:supersecret@example/model.json'],
  ] as const) {
    it(`should not echo a secret put in ${variable}=${value.replace('supersecret', '…')}`, () => {
      assert.throws(
        () => loadConfig({ [variable]: value }),
        (error: unknown) => error instanceof ConfigError && error.message.startsWith(`${variable}: `) && !error.message.includes('supersecret'),
      );
    });
  }

  it('should default to the embedded state store, with the documented bounds', () => {
    const { state } = loadConfig({});
    assert.deepEqual(state, {
      store: 'memory',
      latenessSeconds: 86_400,
      maxFutureSeconds: 300,
      maxEntities: 100_000,
      maxTransactions: 500_000,
      snapshotPath: undefined,
      snapshotIntervalMs: 60_000,
      maxPendingScores: 100_000,
      qualityRetentionDays: 35,
      redis: { url: undefined, password: undefined, timeoutMs: 100, keyPrefix: 'fraud:', cluster: false, waitReplicas: 0, checkIntervalMs: 30_000, allowEviction: false, sentinel: undefined },
    });
  });

  it('should read every state variable', () => {
    const { state } = loadConfig({
      FRAUD_STATE_STORE: 'redis',
      FRAUD_STATE_LATENESS_SECONDS: '120',
      FRAUD_STATE_MAX_FUTURE_SECONDS: '30',
      FRAUD_STATE_MAX_ENTITIES: '5000',
      FRAUD_STATE_MAX_TRANSACTIONS: '70000',
      FRAUD_STATE_SNAPSHOT_PATH: '/var/lib/fraud/state.bin',
      FRAUD_STATE_SNAPSHOT_SECONDS: '15',
      FRAUD_QUALITY_MAX_PENDING_SCORES: '2500',
      FRAUD_QUALITY_RETENTION_DAYS: '90',
      FRAUD_REDIS_URL: 'redis://redis:6380/2',
      FRAUD_REDIS_PASSWORD: 'hunter2',
      FRAUD_REDIS_TIMEOUT_MS: '250',
      FRAUD_REDIS_KEY_PREFIX: 'fraud-eu:',
      FRAUD_REDIS_CHECK_SECONDS: '5',
      FRAUD_REDIS_ALLOW_EVICTION: 'true',
    });
    assert.deepEqual(state, {
      store: 'redis',
      latenessSeconds: 120,
      maxFutureSeconds: 30,
      maxEntities: 5000,
      maxTransactions: 70_000,
      snapshotPath: '/var/lib/fraud/state.bin',
      snapshotIntervalMs: 15_000,
      maxPendingScores: 2500,
      qualityRetentionDays: 90,
      redis: {
        url: 'redis://redis:6380/2',
        password: 'hunter2',
        timeoutMs: 250,
        keyPrefix: 'fraud-eu:',
        cluster: false,
        waitReplicas: 0,
        checkIntervalMs: 5_000,
        allowEviction: true,
        sentinel: undefined,
      },
    });
  });

  it('should read Sentinels in place of FRAUD_REDIS_URL, the primary\'s name defaulting to mymaster', () => {
    const { redis } = loadConfig({ FRAUD_STATE_STORE: 'redis', FRAUD_REDIS_SENTINELS: 'redis-sentinel-0:26379,10.0.0.7:26380', FRAUD_REDIS_PASSWORD: 'data' }).state;
    assert.equal(redis.url, undefined);
    assert.equal(redis.password, 'data');
    assert.deepEqual(redis.sentinel, {
      nodes: [
        { host: 'redis-sentinel-0', port: 26379 },
        { host: '10.0.0.7', port: 26380 },
      ],
      name: 'mymaster',
      password: undefined,
    });
  });

  for (const [env, variable, message] of [
    [{ FRAUD_STATE_STORE: 'disk' }, 'FRAUD_STATE_STORE', /^FRAUD_STATE_STORE: must be one of memory, redis, none, got "disk"$/],
    [{ FRAUD_STATE_STORE: 'redis' }, 'FRAUD_REDIS_URL', /^FRAUD_REDIS_URL: is required when FRAUD_STATE_STORE=redis/],
    [{ FRAUD_REDIS_URL: 'http://redis:6379' }, 'FRAUD_REDIS_URL', /^FRAUD_REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ FRAUD_STATE_LATENESS_SECONDS: '-5' }, 'FRAUD_STATE_LATENESS_SECONDS', /^FRAUD_STATE_LATENESS_SECONDS: must be an integer from 0 to 604800/],
    [{ FRAUD_STATE_MAX_ENTITIES: '0' }, 'FRAUD_STATE_MAX_ENTITIES', /^FRAUD_STATE_MAX_ENTITIES: must be an integer from 1/],
    [{ FRAUD_QUALITY_MAX_PENDING_SCORES: '0' }, 'FRAUD_QUALITY_MAX_PENDING_SCORES', /^FRAUD_QUALITY_MAX_PENDING_SCORES: must be an integer from 1/],
    [{ FRAUD_REDIS_TIMEOUT_MS: 'soon' }, 'FRAUD_REDIS_TIMEOUT_MS', /^FRAUD_REDIS_TIMEOUT_MS: must be an integer/],
    [{ FRAUD_REDIS_SENTINELS: 's:26379', FRAUD_REDIS_URL: 'redis://redis:6379' }, 'FRAUD_REDIS_SENTINELS', /^FRAUD_REDIS_SENTINELS: .*unset FRAUD_REDIS_URL/],
    [{ FRAUD_REDIS_SENTINELS: 's:26379', FRAUD_REDIS_CLUSTER: 'true' }, 'FRAUD_REDIS_SENTINELS', /^FRAUD_REDIS_SENTINELS: cannot be used with FRAUD_REDIS_CLUSTER=true/],
    [{ FRAUD_REDIS_SENTINELS: 's:26379,sentinel-1' }, 'FRAUD_REDIS_SENTINELS', /^FRAUD_REDIS_SENTINELS: must be a comma-separated list of host:port, got "sentinel-1"$/],
    [{ FRAUD_REDIS_SENTINELS: 's:70000' }, 'FRAUD_REDIS_SENTINELS', /^FRAUD_REDIS_SENTINELS: must be a comma-separated list of host:port, got "s:70000"$/],
    [{ FRAUD_REDIS_SENTINEL_NAME: 'mymaster' }, 'FRAUD_REDIS_SENTINEL_NAME', /^FRAUD_REDIS_SENTINEL_NAME: is used only with FRAUD_REDIS_SENTINELS/],
    [{ FRAUD_REDIS_SENTINEL_PASSWORD: 'x' }, 'FRAUD_REDIS_SENTINEL_PASSWORD', /^FRAUD_REDIS_SENTINEL_PASSWORD: is used only with FRAUD_REDIS_SENTINELS/],
    [{ FRAUD_REDIS_SENTINELS: 's:26379', FRAUD_REDIS_SENTINEL_NAME: 'my master' }, 'FRAUD_REDIS_SENTINEL_NAME', /^FRAUD_REDIS_SENTINEL_NAME: must be the primary's name/],
  ] as const) {
    it(`should refuse ${JSON.stringify(env)} with one line naming ${variable}`, () => {
      assert.throws(
        () => loadConfig(env),
        (error: unknown) => error instanceof ConfigError && error.variable === variable && message.test(error.message) && !error.message.includes('\n'),
      );
    });
  }

  it('should default the transport and admission limits to values sized for the chart (512Mi)', () => {
    const config = loadConfig({});
    assert.equal(config.grpc.maxConcurrentStreams, 100);
    assert.equal(config.grpc.maxSessionMemoryMb, 10);
    assert.equal(config.grpc.maxConnectionAgeMs, 300_000);
    assert.equal(config.grpc.maxConnectionAgeGraceMs, 30_000);
    assert.deepEqual(config.rowsInFlight, { max: 60_000, maxPerConnection: 10_000 });
    assert.equal(config.modelInfoDetails, false);
  });

  it('should read the transport and admission settings', () => {
    const config = loadConfig({
      FRAUD_GRPC_MAX_CONCURRENT_STREAMS: '32',
      FRAUD_GRPC_MAX_SESSION_MEMORY_MB: '64',
      FRAUD_GRPC_MAX_CONNECTION_AGE_SECONDS: '0',
      FRAUD_GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS: '2.5',
      FRAUD_MAX_ROWS_IN_FLIGHT: '200000',
      FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION: '50000',
      FRAUD_MODEL_INFO_DETAILS: 'true',
    });
    assert.equal(config.grpc.maxConcurrentStreams, 32);
    assert.equal(config.grpc.maxSessionMemoryMb, 64);
    assert.equal(config.grpc.maxConnectionAgeMs, 0);
    assert.equal(config.grpc.maxConnectionAgeGraceMs, 2500);
    assert.deepEqual(config.rowsInFlight, { max: 200_000, maxPerConnection: 50_000 });
    assert.equal(config.modelInfoDetails, true);
  });

  it('should raise the admission defaults to hold the largest batch allowed', () => {
    assert.deepEqual(loadConfig({ FRAUD_MAX_BATCH_SIZE: '100000' }).rowsInFlight, { max: 100_000, maxPerConnection: 100_000 });
  });

  const badLimits: [Record<string, string>, string, RegExp][] = [
    [{ FRAUD_GRPC_MAX_CONCURRENT_STREAMS: '0' }, 'FRAUD_GRPC_MAX_CONCURRENT_STREAMS', /must be an integer from 1 to 10000, got "0"/],
    [{ FRAUD_GRPC_MAX_SESSION_MEMORY_MB: 'lots' }, 'FRAUD_GRPC_MAX_SESSION_MEMORY_MB', /must be an integer from 1 to 4096/],
    [{ FRAUD_GRPC_MAX_CONNECTION_AGE_SECONDS: '-5' }, 'FRAUD_GRPC_MAX_CONNECTION_AGE_SECONDS', /must be a number of seconds from 0 to 86400/],
    [{ FRAUD_GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS: '1h' }, 'FRAUD_GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS', /must be a number of seconds from 0 to 3600/],
    [{ FRAUD_MAX_ROWS_IN_FLIGHT: '5000' }, 'FRAUD_MAX_ROWS_IN_FLIGHT', /must be at least FRAUD_MAX_BATCH_SIZE \(10000\)/],
    [{ FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION: '70000' }, 'FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION', /must be at most FRAUD_MAX_ROWS_IN_FLIGHT \(60000\), got 70000/],
    [{ FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION: '500' }, 'FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION', /must be at least FRAUD_MAX_BATCH_SIZE \(10000\)/],
    [{ FRAUD_MODEL_INFO_DETAILS: 'sometimes' }, 'FRAUD_MODEL_INFO_DETAILS', /must be true or false/],
  ];
  for (const [env, variable, message] of badLimits) {
    it(`should refuse ${JSON.stringify(env)} naming ${variable}`, () => {
      assert.throws(
        () => loadConfig(env),
        (error: unknown) => error instanceof ConfigError && error.variable === variable && message.test(error.message) && !error.message.includes('\n'),
      );
    });
  }

  it('should refuse a Redis password in the URL without echoing it', () => {
    assert.throws(
      () => loadConfig({ FRAUD_REDIS_URL: 'redis://default:supersecret@redis:6379' }),
      (error: unknown) => error instanceof ConfigError && error.variable === 'FRAUD_REDIS_URL' && /FRAUD_REDIS_PASSWORD/.test(error.message) && !error.message.includes('supersecret'),
    );
  });

  it('should list FRAUD_ variables it does not know, for a typo warning', () => {
    assert.deepEqual(unknownVariables({ FRAUD_GRPC_PROT: '1', FRAUD_GRPC_PORT: '1', HOME: '/root' }), ['FRAUD_GRPC_PROT']);
  });
});

import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/envValues.js';
import { loadConfig } from '../../src/config/config.js';

describe('config of the Redis state store', () => {
  it('should take a TLS URL (rediss://) and a key prefix', () => {
    const { state } = loadConfig({ FRAUD_STATE_STORE: 'redis', FRAUD_REDIS_URL: 'rediss://redis.fraud.svc:6380/2', FRAUD_REDIS_KEY_PREFIX: 'fraud-eu:' });
    assert.equal(state.redis.url, 'rediss://redis.fraud.svc:6380/2');
    assert.equal(state.redis.keyPrefix, 'fraud-eu:');
  });

  it('should refuse a key prefix with a brace, which would put every key in one Cluster slot', () => {
    assert.throws(
      () => loadConfig({ FRAUD_REDIS_KEY_PREFIX: 'fraud:{eu}:' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.variable === 'FRAUD_REDIS_KEY_PREFIX' &&
        /^FRAUD_REDIS_KEY_PREFIX: must not contain \{ or \} \(keys carry their own hash tags\), got "fraud:\{eu\}:"$/.test(error.message),
    );
  });
});

describe('config of a Redis Cluster', () => {
  it('should take FRAUD_REDIS_CLUSTER with a node of the cluster as the URL', () => {
    const { state } = loadConfig({ FRAUD_STATE_STORE: 'redis', FRAUD_REDIS_URL: 'redis://redis-cluster:6379', FRAUD_REDIS_CLUSTER: 'true' });
    assert.equal(state.redis.cluster, true);
  });

  it('should refuse a database other than 0 in cluster mode, naming the variable', () => {
    assert.throws(
      () => loadConfig({ FRAUD_STATE_STORE: 'redis', FRAUD_REDIS_URL: 'redis://redis-cluster:6379/2', FRAUD_REDIS_CLUSTER: 'true' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.variable === 'FRAUD_REDIS_CLUSTER' &&
        /^FRAUD_REDIS_CLUSTER: a Redis Cluster has database 0 only; FRAUD_REDIS_URL names database 2$/.test(error.message),
    );
  });
});

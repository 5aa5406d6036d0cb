import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/config.js';

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

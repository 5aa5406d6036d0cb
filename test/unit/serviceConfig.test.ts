import assert from 'node:assert/strict';
import { DEFAULT_RETRY, fraudServiceConfig, retryPolicy, serviceConfigOptions } from '../../client/serviceConfig.js';

describe('the service config of a channel to the service', () => {
  it('should turn milliseconds into protobuf JSON durations, shortest form', () => {
    const policy = fraudServiceConfig({ attempts: 3, initialBackoffMs: 1, maxBackoffMs: 2_500 }).methodConfig[0]?.retryPolicy;
    assert.deepEqual(policy, {
      maxAttempts: 3,
      initialBackoff: '0.001s',
      maxBackoff: '2.5s',
      backoffMultiplier: 2,
      retryableStatusCodes: ['UNAVAILABLE', 'RESOURCE_EXHAUSTED'],
    });
  });

  it('should have no retryPolicy for one attempt (gRPC refuses maxAttempts below 2), and keep round_robin', () => {
    const config = fraudServiceConfig({ attempts: 1, initialBackoffMs: 50, maxBackoffMs: 2_000 });
    assert.deepEqual(config, { loadBalancingConfig: [{ round_robin: {} }], methodConfig: [{ name: [{ service: 'fraud.v1.FraudService' }] }] });
  });

  it('should raise grpc-js\'s limit of 5 attempts only when asked for more', () => {
    assert.equal(serviceConfigOptions({ attempts: 5, initialBackoffMs: 50, maxBackoffMs: 2_000 })['grpc-node.retry_max_attempts_limit'], undefined);
    assert.equal(serviceConfigOptions({ attempts: 6, initialBackoffMs: 50, maxBackoffMs: 2_000 })['grpc-node.retry_max_attempts_limit'], 6);
  });

  it('should take the published policy for what the caller leaves out, an explicit undefined included', () => {
    assert.deepEqual(retryPolicy({ attempts: 2, maxBackoffMs: undefined }), { ...DEFAULT_RETRY, attempts: 2 });
    assert.deepEqual(retryPolicy(), DEFAULT_RETRY);
  });

  it('should refuse attempts below 1 and backoffs that are not whole milliseconds, naming the option', () => {
    assert.throws(() => fraudServiceConfig({ attempts: 0, initialBackoffMs: 50, maxBackoffMs: 2_000 }), /retry\.attempts must be an integer of at least 1, got 0/);
    assert.throws(() => fraudServiceConfig({ attempts: 2, initialBackoffMs: 0.5, maxBackoffMs: 2_000 }), /retry\.initialBackoffMs must be a whole number of milliseconds/);
    assert.throws(() => fraudServiceConfig({ attempts: 2, initialBackoffMs: 50, maxBackoffMs: 0 }), /retry\.maxBackoffMs must be a whole number of milliseconds/);
  });
});

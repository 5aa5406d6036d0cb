import assert from 'node:assert/strict';
import { RedisServer } from '../helpers/redis.js';
import { spawnService } from '../helpers/spawnService.js';

describe('the service as its own process on a Redis that evicts keys (real redis-server)', function () {
  this.timeout(60_000);
  let redis: RedisServer;

  before(async () => {
    redis = await RedisServer.start({ args: ['--maxmemory-policy', 'volatile-lru'] });
  });

  after(async () => {
    await redis.stop();
  });

  it('should exit with status 2 and one line naming FRAUD_REDIS_ALLOW_EVICTION and the policy found', async () => {
    const service = await spawnService({ FRAUD_STATE_STORE: 'redis', FRAUD_REDIS_URL: redis.url });
    // Still running after a while would be the bug: stop it then, so the test ends with the assertion.
    const running = setTimeout(() => void service.kill('SIGKILL'), 30_000);
    const code = await service.exited;
    clearTimeout(running);
    assert.equal(code, 2);
    assert.equal(
      service.stderr.join(''),
      `configuration error: FRAUD_REDIS_ALLOW_EVICTION: Redis 127.0.0.1:${redis.port} has maxmemory-policy volatile-lru, which evicts history (every history key has a TTL); set maxmemory-policy noeviction, or FRAUD_REDIS_ALLOW_EVICTION=true to accept losing history\n`,
    );
    assert.ok(service.logs.some((record) => record.level === 'error' && record.variable === 'FRAUD_REDIS_ALLOW_EVICTION'), 'in the JSON log too');
    assert.ok(!service.logs.some((record) => record.msg === 'serving'), 'never served');
  });
});

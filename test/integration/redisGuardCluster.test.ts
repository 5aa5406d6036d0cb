import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Cluster } from 'ioredis';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { RedisGuard } from '../../src/state/redisGuard.js';
import { RedisServer } from '../helpers/redis.js';
import { sample } from '../helpers/scrape.js';
import type { LogRecord } from '../helpers/testService.js';

describe('the Redis guard on a Redis Cluster (a real redis-server in cluster mode)', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let cluster: Cluster;
  let guard: RedisGuard | undefined;
  const metrics = new Metrics();
  const logs: LogRecord[] = [];

  before(async () => {
    // A lone cluster node does not know its own address until told: CLUSTER SLOTS would name no host.
    redis = await RedisServer.start({ cluster: true, args: ['--cluster-announce-ip', '127.0.0.1'] });
    cluster = new Cluster([{ host: '127.0.0.1', port: redis.port }]);
    cluster.on('error', () => undefined);
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as LogRecord);
        done();
      },
    });
    await new Promise<void>((resolveReady) => cluster.once('ready', resolveReady));
    guard = new RedisGuard({
      client: cluster,
      keyPrefix: 'cluster:',
      intervalMs: 3_600_000,
      timeoutMs: 5_000,
      allowEviction: false,
      retentionSeconds: 40 * 86_400,
      watermark: () => 1_000_000,
      logger: createLogger('debug', sink),
      metrics,
      onChange: () => undefined,
    });
    guard.start();
    await guard.started;
  });

  after(async () => {
    guard?.close();
    cluster.disconnect();
    await redis.stop();
  });

  it('should check every primary and keep a marker in a slot of each, and notice when a primary loses it', async () => {
    const node = `127.0.0.1:${redis.port}`;
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, `fraud_state_redis_eviction_policy{node="${node}",policy="noeviction"}`), 1);
    const keys = await redis.admin.keys('cluster:*');
    assert.equal(keys.length, 1, 'one primary, one marker');
    assert.match(keys[0] ?? '', /^cluster:\{generation-\d+\}$/);
    const { id } = await redis.admin.hgetall(keys[0] as string);
    await redis.admin.flushall();
    await guard?.check();
    assert.equal(sample(await metrics.registry.metrics(), 'fraud_state_store_lost_total{store="redis"}'), 1);
    assert.equal(guard?.historyIncomplete, true);
    const marker = await redis.admin.hgetall(keys[0] as string);
    assert.equal(marker.lost_generation, id);
    assert.equal(marker.incomplete_until, String(1_000_000 + 40 * 86_400));
    assert.equal(logs.filter((record) => /^Redis lost the history/.test(record.msg)).length, 1);
  });
});

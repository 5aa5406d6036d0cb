import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { Cluster } from 'ioredis';
import { HealthCheckResponse_ServingStatus as Serving, HealthClient, type HealthCheckResponse } from '../../src/gen/grpc/health/v1/health.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { RedisGuard } from '../../src/state/redisGuard.js';
import { RedisCluster, RedisServer } from '../helpers/redis.js';
import { sample, scrape } from '../helpers/scrape.js';
import { freePort } from '../helpers/spawnService.js';
import { startTestService, transaction, type LogRecord, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

function logSink(logs: LogRecord[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as LogRecord);
      done();
    },
  });
}

function guardOn(cluster: Cluster, metrics: Metrics, logs: LogRecord[]): RedisGuard {
  return new RedisGuard({
    client: cluster,
    keyPrefix: 'cluster:',
    intervalMs: 3_600_000,
    timeoutMs: 5_000,
    allowEviction: false,
    retentionSeconds: 40 * 86_400,
    watermark: () => 1_000_000,
    logger: createLogger('debug', logSink(logs)),
    metrics,
    onChange: () => undefined,
  });
}

/** A bus port below 55535 (Redis's default, port + 10000, may not fit). */
async function busPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port < 55_535) return port;
  }
}

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
    await new Promise<void>((resolveReady) => cluster.once('ready', resolveReady));
    guard = guardOn(cluster, metrics, logs);
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

  it('should keep one marker per primary of a three-primary cluster, and notice the one primary that lost its data', async () => {
    const buses = [await busPort(), await busPort(), await busPort()];
    const nodes = await Promise.all(
      buses.map(async (bus) => RedisServer.start({ args: ['--cluster-enabled', 'yes', '--cluster-port', String(bus), '--cluster-announce-ip', '127.0.0.1'] })),
    );
    const ranges = [
      ['0', '5460'],
      ['5461', '10922'],
      ['10923', '16383'],
    ];
    let three: Cluster | undefined;
    let threeGuard: RedisGuard | undefined;
    try {
      for (const [index, node] of nodes.entries()) await node.admin.call('CLUSTER', 'ADDSLOTSRANGE', ...(ranges[index] as string[]));
      for (const [index, node] of nodes.entries()) {
        if (index > 0) await (nodes[0] as RedisServer).admin.call('CLUSTER', 'MEET', '127.0.0.1', String(node.port), String(buses[index]));
      }
      for (const node of nodes) await waitFor(`cluster_state:ok on ${node.port}`, async () => String(await node.admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok'), 30_000, 50);
      three = new Cluster([{ host: '127.0.0.1', port: (nodes[0] as RedisServer).port }]);
      three.on('error', () => undefined);
      const client = three;
      await waitFor('the client to know three primaries', async () => {
        if (client.status !== 'ready') return false;
        await client.call('CLUSTER', 'SLOTS');
        return client.nodes('master').length === 3;
      });
      const threeMetrics = new Metrics();
      const threeLogs: LogRecord[] = [];
      threeGuard = guardOn(three, threeMetrics, threeLogs);
      threeGuard.start();
      await threeGuard.started;
      const markers = await Promise.all(nodes.map(async (node) => node.admin.keys('cluster:*')));
      assert.deepEqual(
        markers.map((keys) => keys.length),
        [1, 1, 1],
        'one marker on each primary',
      );
      const before = await Promise.all(nodes.map(async (node, index) => node.admin.hgetall((markers[index] as string[])[0] as string)));
      for (const node of nodes) assert.equal(sample(await threeMetrics.registry.metrics(), `fraud_state_redis_eviction_policy{node="127.0.0.1:${node.port}",policy="noeviction"}`), 1);
      // The second primary alone loses its data.
      await (nodes[1] as RedisServer).admin.flushall();
      await threeGuard.check();
      assert.equal(sample(await threeMetrics.registry.metrics(), 'fraud_state_store_lost_total{store="redis"}'), 1);
      const after = await Promise.all(nodes.map(async (node, index) => node.admin.hgetall((markers[index] as string[])[0] as string)));
      assert.equal(after[0]?.id, before[0]?.id);
      assert.equal(after[2]?.id, before[2]?.id);
      assert.notEqual(after[1]?.id, before[1]?.id);
      assert.equal(after[1]?.lost_generation, before[1]?.id);
      assert.equal(threeLogs.filter((record) => /^Redis lost the history/.test(record.msg) && record.marker === (markers[1] as string[])[0]).length, 1);
    } finally {
      threeGuard?.close();
      three?.disconnect();
      for (const node of nodes) await node.stop();
    }
  });
});

const HISTORY = 'fraud.v1.FraudService/history';

function check(address: string, service: string): Promise<string> {
  const client = new HealthClient(address, credentials.createInsecure());
  return new Promise<string>((resolveCheck, rejectCheck) => {
    client.check({ service }, (error: ServiceError | null, response: HealthCheckResponse) => {
      client.close();
      if (error) rejectCheck(error);
      else resolveCheck(Serving[response.status]);
    });
  });
}

describe('the Redis guard with the service on a 6-node Redis Cluster', function () {
  this.timeout(120_000);
  let cluster: RedisCluster;
  let running: TestService;

  before(async () => {
    cluster = await RedisCluster.start();
    running = await startTestService({ FRAUD_STATE_STORE: 'redis', FRAUD_REDIS_URL: cluster.url, FRAUD_REDIS_CLUSTER: 'true', FRAUD_REDIS_CHECK_SECONDS: '0.2', FRAUD_REDIS_KEY_PREFIX: 'gc:', FRAUD_REDIS_TIMEOUT_MS: '1000' });
    await waitFor('SERVING', async () => (await check(running.address, '')) === 'SERVING', 30_000);
  });

  after(async () => {
    await running.stop();
    await cluster.stop();
  });

  it('should keep a marker on each of the three primaries, survive a failover without a loss, and notice a primary emptied', async () => {
    await running.client.predict(transaction());
    const primaries: number[] = [];
    for (const port of cluster.ports) if ((await cluster.command(port, 'INFO', 'replication')).includes('role:master')) primaries.push(port);
    assert.equal(primaries.length, 3);
    const markers = await Promise.all(primaries.map(async (port) => JSON.parse(await cluster.command(port, 'KEYS', 'gc:{generation*')) as string[]));
    assert.deepEqual(markers.map((keys) => keys.length), [1, 1, 1]);
    assert.equal(await check(running.address, HISTORY), 'SERVING');
    const victim = primaries[0] as number;
    const { replicas } = await cluster.shardOf((markers[0] as string[])[0] as string, primaries[1]);
    await cluster.kill(victim);
    await cluster.waitUntilOk(cluster.ports.filter((port) => port !== victim));
    await waitFor('a check after the failover', async () => {
      await running.client.predict(transaction()).catch(() => undefined);
      const text = await scrape(running.service.metricsPort);
      return (sample(text, `fraud_state_redis_eviction_policy{node="127.0.0.1:${String(replicas[0])}",policy="noeviction"}`) ?? 0) === 1;
    }, 60_000);
    assert.equal(sample(await scrape(running.service.metricsPort), 'fraud_state_store_lost_total{store="redis"}'), 0, 'the promoted replica has the marker');
    await cluster.command(primaries[1] as number, 'FLUSHALL');
    await waitFor('the loss', async () => sample(await scrape(running.service.metricsPort), 'fraud_state_store_lost_total{store="redis"}') === 1, 30_000);
    await waitFor('history NOT_SERVING', async () => (await check(running.address, HISTORY)) === 'NOT_SERVING');
    assert.equal(await check(running.address, ''), 'SERVING');
  });
});

import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/config.js';
import { container, only, renderChart, renderChartError, type Container, type EnvVar } from './chart.js';

function serviceOf(objects: Awaited<ReturnType<typeof renderChart>>): Container {
  return container(only(objects, 'Deployment'), 'fraud-scoring');
}

function variables(service: Container): Map<string, EnvVar> {
  return new Map((service.env ?? []).map((variable) => [variable.name, variable]));
}

/** The service's configuration from the rendered env, Secrets standing in as text. */
function configOf(service: Container): ReturnType<typeof loadConfig> {
  return loadConfig(Object.fromEntries((service.env ?? []).map((variable) => [variable.name, variable.value ?? 'from-a-secret'])));
}

describe('the Helm chart: Redis with Sentinel and Redis Cluster', function () {
  this.timeout(60_000);

  it('should name the Sentinels, the primary and both passwords (from Secrets), and no URL, with ci/redis-sentinel-values.yaml', async () => {
    const service = serviceOf(await renderChart({ values: ['redis-sentinel-values.yaml'] }));
    const env = variables(service);
    assert.equal(env.get('FRAUD_REDIS_SENTINELS')?.value, 'redis-node-0.redis-headless.redis.svc:26379,redis-node-1.redis-headless.redis.svc:26379,redis-node-2.redis-headless.redis.svc:26379');
    assert.equal(env.get('FRAUD_REDIS_SENTINEL_NAME')?.value, 'mymaster');
    assert.deepEqual(env.get('FRAUD_REDIS_SENTINEL_PASSWORD')?.valueFrom, { secretKeyRef: { name: 'redis', key: 'redis-password' } });
    assert.deepEqual(env.get('FRAUD_REDIS_PASSWORD')?.valueFrom, { secretKeyRef: { name: 'redis', key: 'redis-password' } });
    assert.equal(env.has('FRAUD_REDIS_URL'), false);
    assert.equal(env.has('FRAUD_REDIS_CLUSTER'), false);
    const { redis } = configOf(service).state;
    assert.equal(redis.sentinel?.nodes.length, 3);
    assert.equal(redis.sentinel.name, 'mymaster');
  });

  it('should set FRAUD_REDIS_CLUSTER beside the URL of one node, with ci/redis-cluster-values.yaml', async () => {
    const service = serviceOf(await renderChart({ values: ['redis-cluster-values.yaml'] }));
    const env = variables(service);
    assert.equal(env.get('FRAUD_REDIS_URL')?.value, 'redis://redis-cluster.redis.svc:6379/0');
    assert.equal(env.get('FRAUD_REDIS_CLUSTER')?.value, 'true');
    assert.equal(env.has('FRAUD_REDIS_SENTINELS'), false);
    assert.equal(configOf(service).state.redis.cluster, true);
  });

  it('should set neither with a single Redis, nor any Redis variable with the embedded store', async () => {
    const single = variables(serviceOf(await renderChart({ values: ['redis-values.yaml'] })));
    assert.deepEqual([...single.keys()].filter((name) => /SENTINEL|CLUSTER/.test(name)), []);
    const embedded = variables(serviceOf(await renderChart({ set: { 'state.redis.sentinel.hosts[0]': 's:26379', 'state.redis.cluster': 'true' } })));
    assert.deepEqual([...embedded.keys()].filter((name) => name.startsWith('FRAUD_REDIS_')), []);
  });

  it('should accept Sentinels by IPv6 address, with no Sentinel password and another name', async () => {
    const service = serviceOf(
      await renderChart({ set: { 'state.store': 'redis', 'state.redis.sentinel.hosts[0]': '[fd00::1]:26379', 'state.redis.sentinel.hosts[1]': '10.0.0.2:26380', 'state.redis.sentinel.name': 'fraud-primary' } }),
    );
    const env = variables(service);
    assert.equal(env.has('FRAUD_REDIS_SENTINEL_PASSWORD'), false);
    assert.deepEqual(configOf(service).state.redis.sentinel, {
      nodes: [
        { host: 'fd00::1', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
      ],
      name: 'fraud-primary',
      password: undefined,
    });
  });

  it('should refuse a URL beside Sentinels, Sentinels beside a Cluster, and a Sentinel without a port', async () => {
    assert.match(await renderChartError({ values: ['redis-sentinel-values.yaml'], set: { 'state.redis.url': 'redis://redis:6379/0' } }), /state\.redis\.url and state\.redis\.sentinel\.hosts are mutually exclusive/);
    assert.match(await renderChartError({ values: ['redis-sentinel-values.yaml'], set: { 'state.redis.cluster': 'true' } }), /state\.redis\.cluster and state\.redis\.sentinel\.hosts are mutually exclusive/);
    assert.match(await renderChartError({ set: { 'state.store': 'redis', 'state.redis.sentinel.hosts[0]': 'redis-sentinel' } }), /state\/redis\/sentinel\/hosts\/0/);
    assert.match(await renderChartError({ set: { 'state.store': 'redis' } }), /state\.redis\.url is empty .*and so is state\.redis\.sentinel\.hosts/);
  });
});

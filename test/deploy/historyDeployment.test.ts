import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { packageRoot } from '../../src/packageRoot.js';
import {
  all,
  bytesOf,
  CI_VALUES,
  container,
  only,
  renderChart,
  renderChartError,
  renderNotes,
  renderUmbrellaOffline,
  UMBRELLA,
  type Container,
  type Deployment,
  type K8sObject,
} from './chart.js';

/** Values files outside ci/ that run the chart: they must render too. */
const OTHER_VALUES = [join(packageRoot, 'deploy', 'minikube', 'values.yaml'), join(packageRoot, 'deploy', 'e2e', 'values-lakefs.yaml')];

/**
 * The resident peak of a pod whose embedded store is full at its defaults
 * (100,000 cards plus terminals, 500,000 remembered transactions): 494-504 MB
 * under 10,000-transaction batches when filled by its calls, 654 MiB (VmHWM
 * 669,772 kB) when restored from its snapshot and then given the pod's whole
 * in-flight budget in 10,000-transaction batches.
 */
const FULL_STORE_PEAK_BYTES = 669_772 * 1024;

function envValue(of: Container, name: string): string | undefined {
  return of.env?.find((candidate) => candidate.name === name)?.value;
}

function serviceOf(objects: readonly K8sObject[]): Container {
  return container(only(objects, 'Deployment'), 'fraud-scoring');
}

function memoryOf(deployment: Deployment, kind: 'requests' | 'limits'): number {
  const quantity = container(deployment, 'fraud-scoring').resources?.[kind]?.memory;
  if (quantity === undefined) throw new Error(`no memory ${kind}`);
  return bytesOf(quantity);
}

describe('the Helm chart: one history per service', () => {
  const rendered = new Map<string, K8sObject[]>();
  before(async function () {
    this.timeout(60_000);
    for (const file of CI_VALUES) rendered.set(file, await renderChart({ values: [file] }));
  });
  const objectsOf = (file: string): K8sObject[] => {
    const objects = rendered.get(file);
    if (objects === undefined) throw new Error(`ci/${file} was not rendered`);
    return objects;
  };

  describe('the embedded store runs in one pod', () => {
    it('should refuse the embedded store with more than one replica, naming the values to change', async () => {
      const error = await renderChartError({ set: { replicaCount: '2' } });
      assert.match(error, /state\.store is memory \(the embedded store\) and replicaCount is 2: each pod would keep its own share of every card's history/);
      assert.match(error, /Set replicaCount to 1, or state\.store to redis/);
      assert.match(await renderChartError({ values: ['memory-snapshot-pvc-values.yaml'], set: { replicaCount: '3' } }), /replicaCount is 3/);
    });

    it('should refuse the embedded store with the HPA on, naming the values to change', async () => {
      const error = await renderChartError({ set: { 'autoscaling.enabled': 'true' } });
      assert.match(error, /state\.store is memory \(the embedded store\) and autoscaling\.enabled is true/);
      assert.match(error, /Set autoscaling\.enabled to false, or state\.store to redis/);
    });

    it('should render one pod, no HPA and the Recreate strategy by default', () => {
      const objects = objectsOf('default-values.yaml');
      const deployment = only(objects, 'Deployment');
      assert.equal(deployment.spec.replicas, 1);
      assert.equal(all(objects, 'HorizontalPodAutoscaler').length, 0);
      assert.deepEqual(deployment.spec.strategy, { type: 'Recreate' }, 'a surge pod would be a second history, and would wait for the ReadWriteOnce claim');
    });

    it('should run no ci/ case, minikube or e2e setup with the embedded store behind more than one pod', async () => {
      const cases = [...CI_VALUES.map((file) => ({ name: file, objects: objectsOf(file) }))];
      for (const path of OTHER_VALUES) cases.push({ name: path, objects: await renderChart({ valueFiles: [path] }) });
      for (const { name, objects } of cases) {
        if (envValue(serviceOf(objects), 'FRAUD_STATE_STORE') !== 'memory') continue;
        const deployment = only(objects, 'Deployment');
        assert.equal(deployment.spec.replicas, 1, name);
        assert.equal(all(objects, 'HorizontalPodAutoscaler').length, 0, name);
        assert.equal(deployment.spec.strategy?.type, 'Recreate', name);
      }
    });

    it('should write the snapshot to a file named after the release, on a claim named after it', async () => {
      const objects = await renderChart({ release: 'eu', set: { fullnameOverride: 'fraud-eu' } });
      assert.equal(envValue(serviceOf(objects), 'FRAUD_STATE_SNAPSHOT_PATH'), '/var/lib/fraud-state/fraud-eu.snapshot');
      assert.equal(only(objects, 'PersistentVolumeClaim').metadata.name, 'fraud-eu-state');
      const shared = await renderChart({ release: 'us', values: ['memory-snapshot-pvc-values.yaml'] });
      assert.equal(envValue(serviceOf(shared), 'FRAUD_STATE_SNAPSHOT_PATH'), '/var/lib/fraud-state/us-fraud-scoring.snapshot', 'two releases on one claim keep two files');
    });

    it('should pass the claim settings through: class, access modes, and no keep annotation when asked', async () => {
      const claim = only(
        await renderChart({
          set: {
            'state.memory.snapshot.persistence.storageClassName': 'fast-ssd',
            'state.memory.snapshot.persistence.accessModes[0]': 'ReadWriteOncePod',
            'state.memory.snapshot.persistence.size': '4Gi',
            'state.memory.snapshot.persistence.keep': 'false',
          },
        }),
        'PersistentVolumeClaim',
      );
      assert.deepEqual(claim.spec, { accessModes: ['ReadWriteOncePod'], storageClassName: 'fast-ssd', resources: { requests: { storage: '4Gi' } } });
      assert.equal(claim.metadata.annotations, undefined);
    });
  });

  describe('drains', () => {
    it('should allow a drain when the history is on a claim (the new pod restores it)', () => {
      assert.equal(only(objectsOf('default-values.yaml'), 'PodDisruptionBudget').spec.maxUnavailable, 1);
      assert.equal(only(objectsOf('memory-snapshot-pvc-values.yaml'), 'PodDisruptionBudget').spec.maxUnavailable, 1);
    });

    it('should stop drains when they would empty the embedded history (snapshots on an emptyDir, or none)', async () => {
      assert.equal(only(objectsOf('memory-snapshot-emptydir-values.yaml'), 'PodDisruptionBudget').spec.maxUnavailable, 0);
      assert.equal(only(await renderChart({ set: { 'state.memory.snapshot.enabled': 'false' } }), 'PodDisruptionBudget').spec.maxUnavailable, 0);
    });

    it('should let an explicit maxUnavailable accept that reset, and allow drains with Redis', async () => {
      assert.equal(only(await renderChart({ values: ['memory-snapshot-emptydir-values.yaml'], set: { 'podDisruptionBudget.maxUnavailable': '1' } }), 'PodDisruptionBudget').spec.maxUnavailable, 1);
      assert.equal(only(objectsOf('redis-values.yaml'), 'PodDisruptionBudget').spec.maxUnavailable, 1);
    });

    it('should say in NOTES when every new pod starts with an empty history, and where the snapshots are otherwise', async () => {
      const warned = await renderNotes({ values: ['memory-snapshot-emptydir-values.yaml'] });
      assert.match(warned, /WARNING: the snapshots are not on a claim, so every new pod \(a rollout, a drain, a\nrescheduling\) starts with an empty history/);
      const persisted = await renderNotes();
      assert.match(persisted, /on the claim fraud-fraud-scoring-state: a new pod restores them/);
      assert.doesNotMatch(persisted, /WARNING: the snapshots/);
      assert.match(await renderNotes({ values: ['redis-values.yaml'] }), /History: Redis at redis:\/\/redis-master\.redis\.svc:6379\/0, shared by every replica/);
    });
  });

  describe('Redis: one history, any number of pods', () => {
    it('should scale with the HPA on Redis and roll without a gap (surge first)', () => {
      const objects = objectsOf('redis-values.yaml');
      const deployment = only(objects, 'Deployment');
      const hpa = only(objects, 'HorizontalPodAutoscaler');
      assert.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas], [2, 6]);
      assert.equal(deployment.spec.replicas, undefined, 'the HPA owns the count');
      assert.deepEqual(deployment.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    });

    it('should run a fixed number of replicas on Redis without the HPA', async () => {
      const objects = await renderChart({ values: ['redis-values.yaml'], set: { 'autoscaling.enabled': 'false', replicaCount: '3' } });
      assert.equal(only(objects, 'Deployment').spec.replicas, 3);
      assert.equal(all(objects, 'HorizontalPodAutoscaler').length, 0);
    });

    it('should size Redis pods for the service alone, with no snapshot claim', () => {
      const deployment = only(objectsOf('redis-values.yaml'), 'Deployment');
      assert.equal(memoryOf(deployment, 'limits'), bytesOf('512Mi'));
      assert.equal(all(objectsOf('redis-values.yaml'), 'PersistentVolumeClaim').length, 0);
      assert.equal(envValue(serviceOf(objectsOf('redis-created-secret-values.yaml')), 'FRAUD_REDIS_URL'), 'rediss://redis.example.internal:6380/1');
    });
  });

  describe('resources', () => {
    it('should request at least the peak a full default embedded store reached (restored, then under batches), and limit half as much again', () => {
      const deployment = only(objectsOf('default-values.yaml'), 'Deployment');
      const service = serviceOf(objectsOf('default-values.yaml'));
      assert.equal(envValue(service, 'FRAUD_STATE_MAX_ENTITIES'), '100000', 'the figures below are for these bounds');
      assert.equal(envValue(service, 'FRAUD_STATE_MAX_TRANSACTIONS'), '500000');
      assert.ok(memoryOf(deployment, 'requests') >= FULL_STORE_PEAK_BYTES, 'request below the full store');
      assert.ok(memoryOf(deployment, 'limits') >= memoryOf(deployment, 'requests') * 1.5, 'limit without half the request as margin (denser histories, a snapshot being written)');
    });
  });

  describe('the umbrella chart with Valkey (deploy/helm/fraud-scoring-valkey)', () => {
    interface UmbrellaValues {
      'fraud-scoring': { state: { redis: { url: string; existingSecret: string; secretKey: string } } } & Record<string, unknown>;
      valkey: {
        fullnameOverride: string;
        deploymentStrategy: string;
        dataStorage: { enabled: boolean; requestedSize: string };
        auth: { enabled: boolean; usersExistingSecret: string; aclUsers: Record<string, { permissions: string; password?: string }> };
        resources: { limits: { memory: string } };
        valkeyConfig: string;
      };
    }
    interface UmbrellaChart {
      dependencies: { name: string; version: string; repository: string }[];
    }
    const values = parse(readFileSync(join(UMBRELLA, 'values.yaml'), 'utf8')) as UmbrellaValues;
    const chart = parse(readFileSync(join(UMBRELLA, 'Chart.yaml'), 'utf8')) as UmbrellaChart;
    const config = new Map(
      values.valkey.valkeyConfig
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== '' && !line.startsWith('#'))
        .map((line) => line.split(/\s+/) as [string, string]),
    );

    it('should depend on this chart by path and on a pinned release of the Valkey chart', () => {
      assert.deepEqual(
        chart.dependencies.map((dependency) => [dependency.name, dependency.repository]),
        [
          ['fraud-scoring', 'file://../fraud-scoring'],
          ['valkey', 'https://valkey.io/valkey-helm/'],
        ],
      );
      assert.match(chart.dependencies[1]?.version ?? '', /^[0-9]+\.[0-9]+\.[0-9]+$/);
    });

    it('should configure Valkey to keep the history: append-only file on a claim, noeviction under a maxmemory below its limit', () => {
      assert.equal(config.get('appendonly'), 'yes');
      assert.equal(config.get('maxmemory-policy'), 'noeviction');
      const maxmemory = /^([0-9]+)(mb|gb)$/.exec(config.get('maxmemory') ?? '');
      assert.ok(maxmemory !== null, 'maxmemory in mb or gb');
      const maxmemoryBytes = Number(maxmemory[1]) * (maxmemory[2] === 'gb' ? 2 ** 30 : 2 ** 20);
      assert.ok(maxmemoryBytes < bytesOf(values.valkey.resources.limits.memory), 'at maxmemory Valkey refuses writes; above the limit the kernel kills it');
      assert.equal(values.valkey.dataStorage.enabled, true);
      assert.equal(values.valkey.deploymentStrategy, 'Recreate', 'two Valkey pods must never append to one file');
    });

    it('should give Valkey and the service the same password, from a Secret, never inline', () => {
      const redis = values['fraud-scoring'].state.redis;
      assert.equal(values.valkey.auth.enabled, true);
      assert.equal(values.valkey.auth.usersExistingSecret, redis.existingSecret);
      assert.ok(values.valkey.auth.aclUsers[redis.secretKey] !== undefined, 'the key is the ACL user whose password the service sends');
      assert.equal(redis.secretKey, 'default', 'the service authenticates as the default user (a password, no user name)');
      for (const user of Object.values(values.valkey.auth.aclUsers)) assert.equal(user.password, undefined);
    });

    it("should render the service through this chart as a dependency: Redis at Valkey's Service, the password from the Secret, scaled by the HPA", async function () {
      this.timeout(60_000);
      const { objects, notes } = await renderUmbrellaOffline(UMBRELLA);
      const service = serviceOf(objects);
      assert.equal(envValue(service, 'FRAUD_STATE_STORE'), 'redis');
      assert.equal(new URL(envValue(service, 'FRAUD_REDIS_URL') ?? '').hostname, values.valkey.fullnameOverride);
      assert.deepEqual(service.env?.find((variable) => variable.name === 'FRAUD_REDIS_PASSWORD')?.valueFrom?.secretKeyRef, { name: 'fraud-valkey-users', key: 'default' });
      assert.equal(only(objects, 'HorizontalPodAutoscaler').spec.minReplicas, 2);
      assert.equal(all(objects, 'PersistentVolumeClaim').length, 0, 'no snapshot claim with Redis');
      assert.match(notes, /kubectl -n fraud create secret generic fraud-valkey-users \\\n\s+--from-literal=default="\$\(openssl rand -hex 24\)"/);
    });
  });
});

import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { loadConfig, unknownVariables } from '../../src/config/config.js';
import { all, CI_VALUES, container, only, renderChart, renderChartError, type Container, type Deployment, type K8sObject } from './chart.js';

/** A pod volume as the state store uses it: an emptyDir or a claim. */
interface StateVolume {
  name: string;
  emptyDir?: { sizeLimit?: string };
  persistentVolumeClaim?: { claimName: string };
}

function env(of: Container, name: string): { value?: string; secret?: { name: string; key: string } } | undefined {
  const variable = of.env?.find((candidate) => candidate.name === name);
  if (variable === undefined) return undefined;
  return { value: variable.value, secret: variable.valueFrom?.secretKeyRef };
}

function stateVolume(deployment: Deployment): StateVolume | undefined {
  const volumes: readonly StateVolume[] = deployment.spec.template.spec.volumes ?? [];
  return volumes.find((volume) => volume.name === 'state-snapshots');
}

describe('the Helm chart: the state store (embedded with snapshots, or Redis)', () => {
  const rendered = new Map<string, K8sObject[]>();
  before(async function () {
    this.timeout(60_000);
    for (const file of CI_VALUES) rendered.set(file, await renderChart({ values: [file] }));
  });
  const objectsOf = (file: string): K8sObject[] => rendered.get(file) ?? [];
  const serviceOf = (file: string): Container => container(only(objectsOf(file), 'Deployment'), 'fraud-scoring');

  it('should keep the embedded store by default, with its bounds, and snapshots on a claim the chart creates, mounted where FRAUD_STATE_SNAPSHOT_PATH points', () => {
    const objects = objectsOf('default-values.yaml');
    const deployment = only(objects, 'Deployment');
    const service = container(deployment, 'fraud-scoring');
    assert.equal(env(service, 'FRAUD_STATE_STORE')?.value, 'memory');
    assert.equal(env(service, 'FRAUD_STATE_MAX_ENTITIES')?.value, '100000');
    assert.equal(env(service, 'FRAUD_QUALITY_MAX_PENDING_SCORES')?.value, '100000');
    assert.equal(env(service, 'FRAUD_STATE_SNAPSHOT_PATH')?.value, '/var/lib/fraud-state/fraud-fraud-scoring.snapshot');
    const claim = only(objects, 'PersistentVolumeClaim');
    assert.equal(claim.metadata.name, 'fraud-fraud-scoring-state');
    assert.deepEqual(claim.spec, { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } }, 'no storageClassName: the default class');
    assert.equal(claim.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
    assert.deepEqual(stateVolume(deployment), { name: 'state-snapshots', persistentVolumeClaim: { claimName: 'fraud-fraud-scoring-state' } });
    assert.deepEqual(service.volumeMounts?.find((mount) => mount.name === 'state-snapshots'), { name: 'state-snapshots', mountPath: '/var/lib/fraud-state' });
    assert.equal(env(service, 'FRAUD_REDIS_URL'), undefined);
  });

  it('should keep snapshots on a size-capped emptyDir when asked for no claim, and create none', () => {
    const objects = objectsOf('memory-snapshot-emptydir-values.yaml');
    assert.deepEqual(stateVolume(only(objects, 'Deployment')), { name: 'state-snapshots', emptyDir: { sizeLimit: '512Mi' } });
    assert.equal(all(objects, 'PersistentVolumeClaim').length, 0);
  });

  it('should keep snapshots on an existing PersistentVolumeClaim when given one, and create none', () => {
    const deployment = only(objectsOf('memory-snapshot-pvc-values.yaml'), 'Deployment');
    assert.deepEqual(stateVolume(deployment), { name: 'state-snapshots', persistentVolumeClaim: { claimName: 'fraud-state' } });
    assert.equal(all(objectsOf('memory-snapshot-pvc-values.yaml'), 'PersistentVolumeClaim').length, 0);
    assert.equal(env(container(deployment, 'fraud-scoring'), 'FRAUD_STATE_SNAPSHOT_SECONDS')?.value, '30');
  });

  it('should point every replica at Redis, with the password from an existing Secret, and no snapshot volume', () => {
    const deployment = only(objectsOf('redis-values.yaml'), 'Deployment');
    const service = container(deployment, 'fraud-scoring');
    assert.equal(env(service, 'FRAUD_STATE_STORE')?.value, 'redis');
    assert.equal(env(service, 'FRAUD_REDIS_URL')?.value, 'redis://redis-master.redis.svc:6379/0');
    assert.equal(env(service, 'FRAUD_REDIS_TIMEOUT_MS')?.value, '150');
    assert.equal(env(service, 'FRAUD_REDIS_KEY_PREFIX')?.value, 'fraud-prod:');
    assert.equal(env(service, 'FRAUD_QUALITY_MAX_PENDING_SCORES')?.value, '100000', 'scores are kept in Redis too');
    assert.deepEqual(env(service, 'FRAUD_REDIS_PASSWORD'), { value: undefined, secret: { name: 'redis', key: 'redis-password' } });
    assert.equal(stateVolume(deployment), undefined);
    assert.equal(env(service, 'FRAUD_STATE_SNAPSHOT_PATH'), undefined);
    assert.equal(all(objectsOf('redis-values.yaml'), 'PersistentVolumeClaim').length, 0, 'no snapshot claim with Redis');
    assert.equal(all(objectsOf('redis-values.yaml'), 'Secret').length, 0, 'an existing Secret is referenced, not created');
  });

  it('should create the password Secret on request, read the password from it, and roll the pods when it changes', () => {
    const objects = objectsOf('redis-created-secret-values.yaml');
    const secret = only(objects, 'Secret', '-redis');
    assert.deepEqual(secret.data, { 'redis-password': Buffer.from('placeholder-not-a-real-password').toString('base64') });
    const deployment = only(objects, 'Deployment');
    assert.deepEqual(env(container(deployment, 'fraud-scoring'), 'FRAUD_REDIS_PASSWORD')?.secret, { name: secret.metadata.name, key: 'redis-password' });
    assert.match(deployment.spec.template.metadata.annotations?.['checksum/redis-secret'] ?? '', /^[0-9a-f]{64}$/);
  });

  it("should give the service an environment its configuration accepts, the snapshot file inside the mounted volume, in every ci/ case", () => {
    for (const file of CI_VALUES) {
      const deployment = only(objectsOf(file), 'Deployment');
      const service = container(deployment, 'fraud-scoring');
      // Values from Secrets are not rendered: any non-empty text stands in for them.
      const environment = Object.fromEntries((service.env ?? []).map((variable) => [variable.name, variable.value ?? 'from-a-secret']));
      assert.deepEqual(unknownVariables(environment), [], file);
      const state = loadConfig(environment).state;
      assert.equal(state.store, environment.FRAUD_STATE_STORE, file);
      if (state.snapshotPath === undefined) continue;
      const mount = service.volumeMounts?.find((candidate) => candidate.name === 'state-snapshots');
      assert.equal(dirname(state.snapshotPath), mount?.mountPath, `${file}: the snapshot must be written to the mounted volume`);
      assert.ok(stateVolume(deployment) !== undefined, file);
    }
  });

  it('should never put the Redis password in a plain env value, in any ci/ case', () => {
    for (const file of CI_VALUES) {
      const variable = serviceOf(file).env?.find((candidate) => candidate.name === 'FRAUD_REDIS_PASSWORD');
      if (variable !== undefined) assert.ok(variable.value === undefined && variable.valueFrom?.secretKeyRef !== undefined, file);
    }
  });

  it('should refuse Redis without a URL, a password in the URL, a plain password in extraEnv, and two password sources', async () => {
    assert.match(await renderChartError({ set: { 'state.store': 'redis' } }), /state\.store is redis but state\.redis\.url is empty/);
    assert.match(await renderChartError({ set: { 'state.store': 'redis', 'state.redis.url': 'redis://:secret@redis:6379' } }), /state\/redis\/url/);
    assert.match(
      await renderChartError({ set: { 'config.extraEnv[0].name': 'FRAUD_REDIS_PASSWORD', 'config.extraEnv[0].value': 'plain' } }),
      /FRAUD_REDIS_PASSWORD must come from a Secret/,
    );
    assert.match(await renderChartError({ values: ['redis-created-secret-values.yaml'], set: { 'state.redis.existingSecret': 'other' } }), /mutually exclusive/);
    assert.match(await renderChartError({ set: { 'state.redis.password.create': 'true' } }), /needs state\.redis\.password\.value/);
    assert.match(await renderChartError({ set: { 'state.redis.keyPrefix': 'fraud:{eu}:' } }), /keyPrefix/);
    assert.match(await renderChartError({ set: { 'state.store': 'disk' } }), /state\/store/);
  });
});

import assert from 'node:assert/strict';
import {
  all,
  CI_VALUES,
  container,
  only,
  renderChart,
  renderChartError,
  renderNotes,
  type Container,
  type Deployment,
  type K8sObject,
} from './chart.js';

const KEY_VARIABLES = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'];

function env(of: Container, name: string): { value?: string; secret?: { name: string; key: string } } | undefined {
  const variable = of.env?.find((candidate) => candidate.name === name);
  if (variable === undefined) return undefined;
  return { value: variable.value, secret: variable.valueFrom?.secretKeyRef };
}

describe('the Helm chart deploy/helm/fraud-scoring', () => {
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
  const deploymentOf = (file: string): Deployment => only(objectsOf(file), 'Deployment');

  it('should have a ci/ values file for each supported setup', () => {
    assert.deepEqual(CI_VALUES, [
      'aws-irsa-values.yaml',
      'decision-log-values.yaml',
      'default-values.yaml',
      'envoy-disabled-values.yaml',
      'lakefs-values.yaml',
      'memory-snapshot-emptydir-values.yaml',
      'memory-snapshot-pvc-values.yaml',
      'minio-values.yaml',
      'monitoring-values.yaml',
      'network-policy-values.yaml',
      'redis-cluster-values.yaml',
      'redis-created-secret-values.yaml',
      'redis-sentinel-values.yaml',
      'redis-values.yaml',
      'tls-cert-manager-mtls-values.yaml',
      'tls-existing-secret-values.yaml',
    ]);
  });

  describe('pods', () => {
    it('should run every container non-root, read-only, without privilege escalation or capabilities, with RuntimeDefault seccomp (every ci/ case)', () => {
      for (const file of CI_VALUES) {
        const spec = deploymentOf(file).spec.template.spec;
        const pod = spec.securityContext;
        assert.ok(pod !== undefined, `${file}: no pod securityContext`);
        assert.equal(pod.runAsNonRoot, true, file);
        assert.equal(pod.seccompProfile?.type, 'RuntimeDefault', file);
        for (const each of spec.containers) {
          const context = each.securityContext;
          assert.ok(context !== undefined, `${file}: ${each.name} has no securityContext`);
          assert.equal(context.runAsNonRoot, true, `${file}: ${each.name}`);
          assert.ok((context.runAsUser ?? 0) > 0, `${file}: ${each.name} needs a numeric non-root UID`);
          assert.equal(context.readOnlyRootFilesystem, true, `${file}: ${each.name}`);
          assert.equal(context.allowPrivilegeEscalation, false, `${file}: ${each.name}`);
          assert.deepEqual(context.capabilities, { drop: ['ALL'] }, `${file}: ${each.name}`);
          assert.equal(context.seccompProfile?.type, 'RuntimeDefault', `${file}: ${each.name}`);
        }
      }
    });

    it('should run the service and the Envoy sidecar, or the service alone when envoy.enabled is false', () => {
      assert.deepEqual(deploymentOf('default-values.yaml').spec.template.spec.containers.map((each) => each.name), ['fraud-scoring', 'envoy']);
      assert.deepEqual(deploymentOf('envoy-disabled-values.yaml').spec.template.spec.containers.map((each) => each.name), ['fraud-scoring']);
      assert.equal(all(objectsOf('envoy-disabled-values.yaml'), 'ConfigMap').length, 0);
    });

    it('should send no traffic to a pod without models: gRPC readiness on fraud.v1.FraudService, port 50051', () => {
      const service = container(deploymentOf('default-values.yaml'), 'fraud-scoring');
      assert.deepEqual(service.readinessProbe?.grpc, { port: 50051, service: 'fraud.v1.FraudService' });
      assert.deepEqual(service.ports?.find((port) => port.name === 'grpc'), { name: 'grpc', containerPort: 50051, protocol: 'TCP' });
    });

    it('should not restart a pod that is only waiting for its models: liveness and startup ask the event loop (GET /metrics), not model health', () => {
      const service = container(deploymentOf('lakefs-values.yaml'), 'fraud-scoring');
      for (const probe of [service.livenessProbe, service.startupProbe]) {
        assert.equal(probe?.grpc, undefined, 'every gRPC health name is NOT_SERVING until the models load');
        assert.deepEqual(probe?.httpGet, { path: '/metrics', port: 'metrics' });
      }
      assert.deepEqual(service.ports?.find((port) => port.name === 'metrics'), { name: 'metrics', containerPort: 9464, protocol: 'TCP' });
    });

    it('should drain before stopping: preStop sleeps, Envoy outlives the service drain, all within terminationGracePeriodSeconds', () => {
      const deployment = deploymentOf('default-values.yaml');
      const grace = deployment.spec.template.spec.terminationGracePeriodSeconds;
      const service = container(deployment, 'fraud-scoring');
      const serviceSleep = service.lifecycle?.preStop?.sleep?.seconds ?? 0;
      const drain = Number(service.env?.find((variable) => variable.name === 'FRAUD_SHUTDOWN_GRACE_SECONDS')?.value);
      const envoySleep = container(deployment, 'envoy').lifecycle?.preStop?.sleep?.seconds ?? 0;
      assert.ok(serviceSleep > 0, 'the service needs a preStop sleep');
      assert.ok(serviceSleep + drain < grace, `preStop ${serviceSleep} s + drain ${drain} s must fit in ${grace} s`);
      assert.ok(envoySleep > serviceSleep + drain, 'Envoy must stay until the service has drained');
      assert.ok(envoySleep < grace);
    });

    it('should refuse a terminationGracePeriodSeconds that cuts the drain short', async () => {
      const error = await renderChartError({ set: { terminationGracePeriodSeconds: '12' } });
      assert.match(error, /terminationGracePeriodSeconds \(12\) must exceed/);
    });

    it('should give the pods no service links and no Kubernetes API token', () => {
      const spec = deploymentOf('default-values.yaml').spec.template.spec;
      assert.equal(spec.enableServiceLinks, false);
      assert.equal(spec.automountServiceAccountToken, false);
    });

    it('should use the chart appVersion as the image tag unless a tag or a digest is given', async () => {
      assert.equal(container(deploymentOf('default-values.yaml'), 'fraud-scoring').image, 'fraud-scoring:0.1.0');
      const digest = `sha256:${'a'.repeat(64)}`;
      const pinned = await renderChart({ set: { 'image.registry': 'ghcr.io', 'image.repository': 'acme/fraud-scoring', 'image.digest': digest } });
      assert.equal(container(only(pinned, 'Deployment'), 'fraud-scoring').image, `ghcr.io/acme/fraud-scoring@${digest}`);
    });
  });

  describe('model source', () => {
    it('should serve the bundled models by default, with no store settings and no cache volume', () => {
      const service = container(deploymentOf('default-values.yaml'), 'fraud-scoring');
      for (const name of ['FRAUD_BINARY_MODEL_URI', 'FRAUD_S3_ENDPOINT', 'FRAUD_MODEL_CACHE_DIR']) assert.equal(env(service, name), undefined, name);
    });

    it('should read both manifests from the lakeFS branch, resolve it to commits through the API, and cache on an emptyDir', () => {
      const deployment = deploymentOf('lakefs-values.yaml');
      const service = container(deployment, 'fraud-scoring');
      assert.equal(env(service, 'FRAUD_BINARY_MODEL_URI')?.value, 's3://fraud-models/main/models/fraud-binary.json');
      assert.equal(env(service, 'FRAUD_SCENARIO_MODEL_URI')?.value, 's3://fraud-models/main/models/fraud-scenario.json');
      assert.equal(env(service, 'FRAUD_S3_ENDPOINT')?.value, 'http://lakefs.lakefs.svc.cluster.local:8000');
      assert.equal(env(service, 'FRAUD_LAKEFS_API_ENDPOINT')?.value, 'http://lakefs.lakefs.svc.cluster.local:8000/api/v1');
      const cacheDir = env(service, 'FRAUD_MODEL_CACHE_DIR')?.value;
      const mount = service.volumeMounts?.find((candidate) => candidate.mountPath === cacheDir);
      const volume = deployment.spec.template.spec.volumes?.find((candidate) => candidate.name === mount?.name);
      assert.ok(volume?.emptyDir?.sizeLimit !== undefined, 'the cache needs an emptyDir with a sizeLimit');
    });

    it('should read the binary challenger from its own branch, with its bound, and no scenario challenger unless its path is set', async () => {
      const service = container(deploymentOf('lakefs-values.yaml'), 'fraud-scoring');
      assert.equal(env(service, 'FRAUD_BINARY_SHADOW_MODEL_URI')?.value, 's3://fraud-models/candidate/models/fraud-binary.json');
      assert.equal(env(service, 'FRAUD_SCENARIO_SHADOW_MODEL_URI'), undefined);
      assert.equal(env(service, 'FRAUD_SHADOW_MAX_ROWS_IN_FLIGHT')?.value, '2000');
      assert.equal(env(service, 'FRAUD_SHADOW_SHED_LOOP_BUSY')?.value, '0.8');
      for (const file of CI_VALUES.filter((name) => name !== 'lakefs-values.yaml')) {
        assert.equal(env(container(deploymentOf(file), 'fraud-scoring'), 'FRAUD_BINARY_SHADOW_MODEL_URI'), undefined, file);
      }
      const both = container(
        only(await renderChart({ values: ['lakefs-values.yaml'], set: { 'models.shadow.scenarioPath': 'models/fraud-scenario.json', 'models.shadow.maxRowsInFlight': '500' } }), 'Deployment'),
        'fraud-scoring',
      );
      assert.equal(env(both, 'FRAUD_SCENARIO_SHADOW_MODEL_URI')?.value, 's3://fraud-models/candidate/models/fraud-scenario.json');
      assert.equal(env(both, 'FRAUD_SHADOW_MAX_ROWS_IN_FLIGHT')?.value, '500');
    });

    it('should leave the ref segment out of plain S3 keys (MinIO case)', () => {
      const service = container(deploymentOf('minio-values.yaml'), 'fraud-scoring');
      assert.equal(env(service, 'FRAUD_BINARY_MODEL_URI')?.value, 's3://fraud-models/prod/fraud-binary.json');
      assert.equal(env(service, 'FRAUD_S3_REGION')?.value, 'eu-west-1');
    });
  });

  describe('S3 credentials', () => {
    it('should never put a key in a plain env value, in any ci/ case', () => {
      for (const file of CI_VALUES) {
        for (const each of deploymentOf(file).spec.template.spec.containers) {
          for (const variable of each.env ?? []) {
            if (KEY_VARIABLES.includes(variable.name)) {
              assert.equal(variable.value, undefined, `${file}: ${each.name} has ${variable.name} as a plain value`);
              assert.ok(variable.valueFrom?.secretKeyRef !== undefined, `${file}: ${variable.name} must come from a Secret`);
            }
          }
        }
      }
    });

    it('should create a Secret with the key pair and read both keys from it (MinIO case)', () => {
      const objects = objectsOf('minio-values.yaml');
      const secret = only(objects, 'Secret');
      assert.deepEqual(secret.data, {
        AWS_ACCESS_KEY_ID: Buffer.from('ci-access-key-id').toString('base64'),
        AWS_SECRET_ACCESS_KEY: Buffer.from('ci-secret-access-key-not-real').toString('base64'),
      });
      const service = container(deploymentOf('minio-values.yaml'), 'fraud-scoring');
      assert.deepEqual(env(service, 'AWS_ACCESS_KEY_ID')?.secret, { name: secret.metadata.name, key: 'AWS_ACCESS_KEY_ID' });
      assert.deepEqual(env(service, 'AWS_SECRET_ACCESS_KEY')?.secret, { name: secret.metadata.name, key: 'AWS_SECRET_ACCESS_KEY' });
      assert.match(deploymentOf('minio-values.yaml').spec.template.metadata.annotations?.['checksum/secret'] ?? '', /^[0-9a-f]{64}$/, 'rotating the keys must roll the pods');
    });

    it('should reference an existing Secret by name and create none (lakeFS case)', () => {
      assert.equal(all(objectsOf('lakefs-values.yaml'), 'Secret').length, 0);
      const service = container(deploymentOf('lakefs-values.yaml'), 'fraud-scoring');
      assert.deepEqual(env(service, 'AWS_ACCESS_KEY_ID')?.secret, { name: 'fraud-models-lakefs', key: 'AWS_ACCESS_KEY_ID' });
      assert.deepEqual(env(service, 'AWS_SECRET_ACCESS_KEY')?.secret, { name: 'fraud-models-lakefs', key: 'AWS_SECRET_ACCESS_KEY' });
    });

    it('should render no key at all with IRSA, and put the role on the ServiceAccount the pods use', () => {
      const objects = objectsOf('aws-irsa-values.yaml');
      assert.equal(all(objects, 'Secret').length, 0);
      const deployment = deploymentOf('aws-irsa-values.yaml');
      for (const each of deployment.spec.template.spec.containers) {
        assert.deepEqual(each.env?.filter((variable) => KEY_VARIABLES.includes(variable.name)) ?? [], [], each.name);
      }
      const account = only(objects, 'ServiceAccount');
      assert.equal(account.metadata.name, deployment.spec.template.spec.serviceAccountName);
      assert.equal(account.metadata.annotations?.['eks.amazonaws.com/role-arn'], 'arn:aws:iam::123456789012:role/fraud-scoring-models-read');
      assert.equal(env(container(deployment, 'fraud-scoring'), 'FRAUD_S3_ENDPOINT'), undefined, 'AWS S3 needs no endpoint');
    });

    it('should refuse a plain key in config.extraEnv', async () => {
      const error = await renderChartError({ set: { 'config.extraEnv[0].name': 'AWS_SECRET_ACCESS_KEY', 'config.extraEnv[0].value': 'plain' } });
      assert.match(error, /extraEnv/);
    });

    it('should refuse credentials.create without keys, and two sources of keys at once', async () => {
      assert.match(await renderChartError({ set: { 's3.credentials.create': 'true' } }), /s3\.credentials\.create needs/);
      assert.match(
        await renderChartError({ values: ['minio-values.yaml'], set: { 's3.existingSecret': 'other' } }),
        /mutually exclusive/,
      );
    });
  });

  describe('Service, autoscaling and availability', () => {
    it('should expose grpc 50051 (h2c), http 8080 (Envoy) and metrics 9464, each with an appProtocol', () => {
      const service = only(objectsOf('default-values.yaml'), 'Service', 'fraud-scoring');
      assert.deepEqual(
        service.spec.ports.map(({ name, port, targetPort, appProtocol }) => ({ name, port, targetPort, appProtocol })),
        [
          { name: 'grpc', port: 50051, targetPort: 'grpc', appProtocol: 'kubernetes.io/h2c' },
          { name: 'http', port: 8080, targetPort: 'http', appProtocol: 'http' },
          { name: 'metrics', port: 9464, targetPort: 'metrics', appProtocol: 'http' },
        ],
      );
      assert.deepEqual(service.spec.selector, deploymentOf('default-values.yaml').spec.selector.matchLabels);
    });

    it('should give gRPC clients a headless Service resolving to every ready pod, for round_robin', async () => {
      for (const file of CI_VALUES) {
        const headless = only(objectsOf(file), 'Service', '-grpc');
        assert.equal(headless.metadata.name, 'fraud-fraud-scoring-grpc', file);
        assert.equal(headless.spec.clusterIP, 'None', file);
        assert.equal(headless.spec.publishNotReadyAddresses, false, `${file}: a pod without models must not be in the answer`);
        assert.deepEqual(headless.spec.selector, deploymentOf(file).spec.selector.matchLabels, file);
        assert.deepEqual(
          headless.spec.ports.map(({ name, port, targetPort, appProtocol }) => ({ name, port, targetPort, appProtocol })),
          [{ name: 'grpc', port: 50051, targetPort: 'grpc', appProtocol: file.startsWith('tls-') ? 'https' : 'kubernetes.io/h2c' }],
          `${file}: gRPC only, so a ServiceMonitor never scrapes a pod twice through it`,
        );
      }
      assert.equal(all(await renderChart({ set: { 'service.headless.enabled': 'false' } }), 'Service').length, 1);
    });

    it('should age connections out after 5 minutes and bound what one client can hold, by default', () => {
      const service = container(deploymentOf('default-values.yaml'), 'fraud-scoring');
      assert.deepEqual(
        Object.fromEntries(
          [
            'FRAUD_GRPC_MAX_CONNECTION_AGE_SECONDS',
            'FRAUD_GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS',
            'FRAUD_GRPC_MAX_CONCURRENT_STREAMS',
            'FRAUD_GRPC_MAX_SESSION_MEMORY_MB',
            'FRAUD_MAX_ROWS_IN_FLIGHT',
            'FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION',
            'FRAUD_MODEL_INFO_DETAILS',
          ].map((name) => [name, env(service, name)?.value]),
        ),
        {
          FRAUD_GRPC_MAX_CONNECTION_AGE_SECONDS: '300',
          FRAUD_GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS: '30',
          FRAUD_GRPC_MAX_CONCURRENT_STREAMS: '100',
          FRAUD_GRPC_MAX_SESSION_MEMORY_MB: '10',
          FRAUD_MAX_ROWS_IN_FLIGHT: '60000',
          FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION: '10000',
          FRAUD_MODEL_INFO_DETAILS: 'false',
        },
      );
    });

    it("should scale (with Redis) from 2 to 6 pods at 80 % of the scoring container's CPU, leaving the replica count to the HPA", () => {
      const objects = objectsOf('redis-values.yaml');
      const hpa = only(objects, 'HorizontalPodAutoscaler');
      const deployment = deploymentOf('redis-values.yaml');
      assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
      assert.equal(hpa.spec.minReplicas, 2);
      assert.equal(hpa.spec.maxReplicas, 6);
      assert.deepEqual(hpa.spec.metrics, [
        { type: 'ContainerResource', containerResource: { name: 'cpu', container: 'fraud-scoring', target: { type: 'Utilization', averageUtilization: 80 } } },
      ]);
      assert.equal(deployment.spec.replicas, undefined, 'a replicas field would reset the HPA on every upgrade');
    });

    it('should cap voluntary disruptions with a PodDisruptionBudget over the same pods, without blocking drains of a single replica whose history is on a claim', () => {
      const pdb = only(objectsOf('default-values.yaml'), 'PodDisruptionBudget');
      assert.equal(pdb.spec.maxUnavailable, 1);
      assert.equal(pdb.spec.minAvailable, undefined);
      assert.deepEqual(pdb.spec.selector.matchLabels, deploymentOf('default-values.yaml').spec.selector.matchLabels);
    });

    it('should route a gRPC Ingress and scrape metrics with a ServiceMonitor when Envoy is off', () => {
      const objects = objectsOf('envoy-disabled-values.yaml');
      const service = only(objects, 'Service', 'fraud-scoring');
      assert.deepEqual(service.spec.ports.map((port) => port.name), ['grpc', 'metrics']);
      const ingress = only(objects, 'Ingress');
      assert.deepEqual(ingress.spec.rules[0]?.http.paths[0]?.backend.service, { name: service.metadata.name, port: { name: 'grpc' } });
      const monitor = only(objects, 'ServiceMonitor');
      assert.deepEqual(monitor.spec.endpoints.map((endpoint) => [endpoint.port, endpoint.path]), [['metrics', '/metrics']]);
      assert.equal(monitor.metadata.labels?.release, 'kube-prometheus-stack');
    });

    it('should route an HTTP Ingress to Envoy and scrape Envoy too when the sidecar runs', async () => {
      const objects = await renderChart({ set: { 'ingress.enabled': 'true', 'ingress.hosts[0].host': 'fraud.example.com', 'ingress.hosts[0].paths[0].path': '/', 'ingress.hosts[0].paths[0].pathType': 'Prefix', 'serviceMonitor.enabled': 'true' } });
      assert.deepEqual(only(objects, 'Ingress').spec.rules[0]?.http.paths[0]?.backend.service.port, { name: 'http' });
      assert.deepEqual(only(objects, 'ServiceMonitor').spec.endpoints.map((endpoint) => endpoint.port), ['metrics', 'envoy-stats']);
    });
  });

  describe('NOTES.txt', () => {
    it('should print the port-forward, grpcurl and curl commands of the release', async () => {
      const notes = await renderNotes();
      assert.match(notes, /kubectl -n fraud port-forward service\/fraud-fraud-scoring 50051:50051/);
      assert.match(notes, /grpcurl -plaintext -d '\{"transaction": \{"transaction_id": 1, .*\}\}' \\\n\s+localhost:50051 fraud\.v1\.FraudService\/Predict/);
      assert.match(notes, /kubectl -n fraud port-forward service\/fraud-fraud-scoring 8080:8080/);
      assert.match(notes, /curl -s -X POST localhost:8080\/predict -H 'content-type: application\/json'/);
      assert.match(notes, /curl -s -X POST localhost:8080\/predict_scenario /);
    });

    it('should leave out the REST commands without Envoy, and name the model source', async () => {
      const notes = await renderNotes({ values: ['envoy-disabled-values.yaml'] });
      assert.doesNotMatch(notes, /curl -s -X POST/);
      assert.match(await renderNotes({ values: ['lakefs-values.yaml'] }), /s3:\/\/fraud-models\/main\/models\/fraud-binary\.json .* at http:\/\/lakefs\.lakefs\.svc\.cluster\.local:8000/);
    });
  });

  describe('values', () => {
    it('should reject a misspelt key instead of ignoring it', async () => {
      assert.match(await renderChartError({ set: { 'envoy.enable': 'false' } }), /additional properties 'enable' not allowed/);
      assert.match(await renderChartError({ set: { 'models.source': 'gcs' } }), /at '\/models\/source'/);
    });

    it('should refuse Kubernetes older than 1.30 (native sleep preStop hooks)', async () => {
      assert.match(await renderChartError({ kubeVersion: '1.29.0' }), /kubeVersion/);
      await renderChart({ kubeVersion: '1.30.0' });
    });
  });
});

import assert from 'node:assert/strict';
import { dirname, posix } from 'node:path';
import { parse } from 'yaml';
import { all, container, envoyConfigOf, only, renderChart, renderChartError, renderNotes, type Container, type Deployment, type K8sObject } from './chart.js';
import { cluster, listener, DOWNSTREAM_TLS_TYPE, UPSTREAM_TLS_TYPE, type Bootstrap, type SdsFile, type SdsSecretConfig } from './envoyBootstrap.js';

const TLS_SECRET = 'tls-existing-secret-values.yaml';
const MTLS = 'tls-cert-manager-mtls-values.yaml';
const NETWORK = 'network-policy-values.yaml';

function envOf(of: Container): Record<string, string | undefined> {
  return Object.fromEntries((of.env ?? []).map((variable) => [variable.name, variable.value]));
}

/** The volume a container mounts at a path, and how. */
function mountAt(deployment: Deployment, of: Container, path: string): { volume: NonNullable<Deployment['spec']['template']['spec']['volumes']>[number]; subPath?: string; readOnly?: boolean } {
  const mount = of.volumeMounts?.find((candidate) => candidate.mountPath === path);
  assert.ok(mount !== undefined, `${of.name} mounts nothing at ${path}`);
  const volume = deployment.spec.template.spec.volumes?.find((candidate) => candidate.name === mount.name);
  assert.ok(volume !== undefined, `no volume ${mount.name}`);
  return { volume, subPath: mount.subPath, readOnly: mount.readOnly };
}

/** The SDS file a reference names, from the Envoy ConfigMap, with the folder Envoy reads it from. */
function sdsFile(objects: readonly K8sObject[], reference: SdsSecretConfig | undefined): SdsFile['resources'][number] {
  assert.ok(reference !== undefined, 'no SDS reference');
  const path = reference.sds_config.path_config_source.path;
  const deployment = only(objects, 'Deployment');
  const configDir = mountAt(deployment, container(deployment, 'envoy'), dirname(path)).volume.configMap?.name;
  const configMap = only(objects, 'ConfigMap', '-envoy');
  assert.equal(configDir, configMap.metadata.name, `${path}: the Envoy ConfigMap must be mounted at ${dirname(path)}`);
  const text = configMap.data?.[posix.basename(path)];
  assert.ok(text !== undefined, `${path} is not in the Envoy ConfigMap`);
  const secret = (parse(text) as SdsFile).resources.find((resource) => resource.name === reference.name);
  assert.ok(secret !== undefined, `${path} has no secret ${reference.name}`);
  return secret;
}

describe('the Helm chart: TLS, authentication and the NetworkPolicy', () => {
  const rendered = new Map<string, K8sObject[]>();
  before(async function () {
    this.timeout(60_000);
    for (const file of ['default-values.yaml', TLS_SECRET, MTLS, NETWORK, 'envoy-disabled-values.yaml']) rendered.set(file, await renderChart({ values: [file] }));
  });
  const objectsOf = (file: string): K8sObject[] => rendered.get(file) ?? assert.fail(`${file} was not rendered`);
  const deploymentOf = (file: string): Deployment => only(objectsOf(file), 'Deployment');
  const serviceOf = (file: string): Container => container(deploymentOf(file), 'fraud-scoring');

  describe('TLS off (the default)', () => {
    it('should set no TLS or token file, mount no certificate, keep the native gRPC probe and cleartext appProtocols', () => {
      const env = envOf(serviceOf('default-values.yaml'));
      for (const name of ['FRAUD_TLS_CERT_FILE', 'FRAUD_TLS_KEY_FILE', 'FRAUD_TLS_CLIENT_CA_FILE', 'FRAUD_HEALTH_PORT', 'FRAUD_AUTH_TOKENS_FILE', 'FRAUD_AUTH_CLIENT_NAMES', 'FRAUD_AUTH_WRITES', 'FRAUD_AUTH_READS']) {
        assert.equal(env[name], undefined, `${name}: the service's defaults apply`);
      }
      assert.deepEqual(serviceOf('default-values.yaml').readinessProbe?.grpc, { port: 50051, service: 'fraud.v1.FraudService' });
      assert.equal(deploymentOf('default-values.yaml').spec.template.spec.volumes?.some((volume) => volume.secret !== undefined), false);
      const config = envoyConfigOf(objectsOf('default-values.yaml')) as Bootstrap;
      assert.equal(listener(config, 'rest').filter_chains[0]?.transport_socket, undefined);
      assert.equal(cluster(config, 'fraud_scoring').transport_socket, undefined);
      assert.deepEqual(Object.keys(only(objectsOf('default-values.yaml'), 'ConfigMap', '-envoy').data ?? {}), ['envoy.yaml']);
      assert.equal(all(objectsOf('default-values.yaml'), 'Certificate').length + all(objectsOf('default-values.yaml'), 'NetworkPolicy').length, 0);
    });
  });

  describe('TLS from an existing Secret', () => {
    it('should point FRAUD_TLS_CERT_FILE and FRAUD_TLS_KEY_FILE into the Secret, mounted read-only as a directory (never subPath, so rotations arrive)', () => {
      const deployment = deploymentOf(TLS_SECRET);
      const service = serviceOf(TLS_SECRET);
      const env = envOf(service);
      assert.equal(env.FRAUD_TLS_RELOAD_SECONDS, '60');
      assert.equal(env.FRAUD_TLS_CLIENT_CA_FILE, undefined, 'no mutual TLS here');
      const certDir = dirname(env.FRAUD_TLS_CERT_FILE ?? '');
      assert.equal(env.FRAUD_TLS_CERT_FILE, `${certDir}/tls.crt`);
      assert.equal(env.FRAUD_TLS_KEY_FILE, `${certDir}/tls.key`);
      for (const each of [service, container(deployment, 'envoy')]) {
        const mount = mountAt(deployment, each, certDir);
        assert.equal(mount.volume.secret?.secretName, 'fraud-scoring-tls', each.name);
        assert.equal(mount.subPath, undefined, `${each.name}: a subPath mount never sees a renewed certificate`);
        assert.equal(mount.readOnly, true, each.name);
        assert.equal(mount.volume.secret.defaultMode, 0o440, 'the key is readable by the pod group only');
        assert.equal(mount.volume.secret.items, undefined, 'tls.crt, tls.key and ca.crt all appear');
      }
    });

    it('should read bearer tokens from the existing Secret, mounted as a directory, never as an environment value', () => {
      const deployment = deploymentOf(TLS_SECRET);
      const service = serviceOf(TLS_SECRET);
      const file = envOf(service).FRAUD_AUTH_TOKENS_FILE ?? '';
      const mount = mountAt(deployment, service, dirname(file));
      assert.equal(mount.volume.secret?.secretName, 'fraud-scoring-tokens');
      assert.deepEqual(mount.volume.secret.items, [{ key: 'tokens', path: posix.basename(file) }]);
      assert.equal(mount.subPath, undefined);
      assert.equal(envOf(service).FRAUD_AUTH_WRITES, 'authenticated');
      assert.equal(all(objectsOf(TLS_SECRET), 'Secret').length, 0, 'an existing Secret is referenced, not created');
      assert.equal(container(deployment, 'envoy').volumeMounts?.some((each) => each.name === mount.volume.name), false, 'Envoy never sees the tokens');
    });

    it("should point the kubelet's gRPC readiness probe at the plaintext health-only port (FRAUD_HEALTH_PORT), which no Service exposes", () => {
      const service = serviceOf(TLS_SECRET);
      assert.equal(envOf(service).FRAUD_HEALTH_PORT, '50052');
      assert.deepEqual(service.ports?.find((port) => port.name === 'health'), { name: 'health', containerPort: 50052, protocol: 'TCP' });
      const probe = service.readinessProbe;
      assert.deepEqual(probe?.grpc, { port: 50052, service: 'fraud.v1.FraudService' }, 'the same question, on the port that speaks no TLS');
      assert.deepEqual([probe.periodSeconds, probe.timeoutSeconds, probe.failureThreshold], [5, 2, 2], 'the timings of readinessProbe are kept');
      for (const each of all(objectsOf(TLS_SECRET), 'Service')) assert.ok(each.spec.ports.every((port) => port.targetPort !== 'health' && port.port !== 50052), each.metadata.name);
    });

    it('should probe readiness with grpc_health_probe over TLS on the gRPC port instead, with tls.readinessOverTls', async () => {
      const service = container(only(await renderChart({ values: [TLS_SECRET], set: { 'tls.readinessOverTls': 'true' } }), 'Deployment'), 'fraud-scoring');
      const probe = service.readinessProbe;
      assert.equal(probe?.grpc, undefined, "the kubelet's gRPC probe cannot speak TLS");
      assert.equal(envOf(service).FRAUD_HEALTH_PORT, undefined, 'no health port is needed');
      assert.deepEqual(probe?.exec?.command, [
        '/usr/local/bin/grpc_health_probe',
        '-addr=127.0.0.1:50051',
        '-service=fraud.v1.FraudService',
        // Half of timeoutSeconds each: the probe ends, saying why, before the kubelet kills it.
        '-connect-timeout=1000ms',
        '-rpc-timeout=1000ms',
        '-tls',
        '-tls-no-verify',
      ]);
      assert.deepEqual([probe.periodSeconds, probe.timeoutSeconds, probe.failureThreshold], [5, 2, 2], 'the timings of readinessProbe are kept');
      assert.deepEqual(service.livenessProbe?.httpGet, { path: '/metrics', port: 'metrics' }, 'metrics stay plain HTTP');
    });

    it('should mark the gRPC and REST ports https on both Services', () => {
      for (const service of all(objectsOf(TLS_SECRET), 'Service')) {
        for (const port of service.spec.ports.filter((each) => each.name === 'grpc' || each.name === 'http')) assert.equal(port.appProtocol, 'https', `${service.metadata.name} ${port.name}`);
        for (const port of service.spec.ports.filter((each) => each.name === 'metrics')) assert.equal(port.appProtocol, 'http');
      }
    });

    it("should serve REST over TLS with the pod's certificate and reach the service over TLS (h2, verified against ca.crt), through SDS files that watch the Secret's directory", () => {
      const objects = objectsOf(TLS_SECRET);
      const config = envoyConfigOf(objects) as Bootstrap;
      const certDir = dirname(envOf(serviceOf(TLS_SECRET)).FRAUD_TLS_CERT_FILE ?? '');
      const downstream = listener(config, 'rest').filter_chains[0]?.transport_socket?.typed_config;
      assert.equal(downstream?.['@type'], DOWNSTREAM_TLS_TYPE);
      assert.equal(downstream.require_client_certificate, undefined, 'no client certificates without tls.mutual');
      assert.deepEqual(downstream.common_tls_context.alpn_protocols, ['h2', 'http/1.1']);
      const certificates = downstream.common_tls_context.tls_certificate_sds_secret_configs ?? [];
      assert.equal(certificates.length, 1);
      assert.deepEqual(sdsFile(objects, certificates[0]).tls_certificate, {
        certificate_chain: { filename: `${certDir}/tls.crt` },
        private_key: { filename: `${certDir}/tls.key` },
        watched_directory: { path: certDir },
      });
      const upstream = cluster(config, 'fraud_scoring').transport_socket?.typed_config;
      assert.equal(upstream?.['@type'], UPSTREAM_TLS_TYPE);
      assert.deepEqual(upstream.common_tls_context.alpn_protocols, ['h2'], 'grpc-js serves HTTP/2 over TLS only to ALPN h2');
      assert.equal(upstream.common_tls_context.tls_certificate_sds_secret_configs, undefined, 'no client certificate without tls.mutual');
      assert.deepEqual(sdsFile(objects, upstream.common_tls_context.validation_context_sds_secret_config).validation_context, {
        trusted_ca: { filename: `${certDir}/ca.crt` },
        watched_directory: { path: certDir },
      });
    });

    it('should pass the Authorization header on to the service (bearer tokens are checked by the service, not Envoy)', () => {
      const config = envoyConfigOf(objectsOf(TLS_SECRET)) as Bootstrap;
      assert.doesNotMatch(JSON.stringify(config), /authorization/i, 'no header rule may touch it');
      assert.equal(JSON.stringify(config).includes('request_headers_to_remove'), false);
    });
  });

  describe('mutual TLS with cert-manager', () => {
    it('should request a certificate for every Service name, for server and client auth, renewed before it expires, from the configured issuer', () => {
      const certificate = only(objectsOf(MTLS), 'Certificate');
      const secretName = mountAt(deploymentOf(MTLS), serviceOf(MTLS), '/etc/fraud-tls').volume.secret?.secretName;
      assert.equal(certificate.spec.secretName, secretName);
      assert.deepEqual(certificate.spec.dnsNames, [
        'fraud-fraud-scoring',
        'fraud-fraud-scoring.fraud',
        'fraud-fraud-scoring.fraud.svc',
        'fraud-fraud-scoring.fraud.svc.cluster.local',
        'fraud-fraud-scoring-grpc',
        'fraud-fraud-scoring-grpc.fraud',
        'fraud-fraud-scoring-grpc.fraud.svc',
        'fraud-fraud-scoring-grpc.fraud.svc.cluster.local',
        'fraud.internal.example.com',
      ]);
      assert.deepEqual(certificate.spec.issuerRef, { name: 'internal-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
      assert.deepEqual([certificate.spec.duration, certificate.spec.renewBefore], ['720h', '240h']);
      assert.deepEqual(certificate.spec.usages, ['server auth', 'client auth', 'digital signature']);
      assert.deepEqual(certificate.spec.privateKey, { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' });
    });

    it('should name only the Service names without the headless Service', async () => {
      const objects = await renderChart({ values: [MTLS], set: { 'service.headless.enabled': 'false' } });
      assert.ok(only(objects, 'Certificate').spec.dnsNames.every((name) => !name.startsWith('fraud-fraud-scoring-grpc')));
    });

    it('should verify clients against ca.crt, allow the listed names to write, and require credentials for reads', () => {
      const env = envOf(serviceOf(MTLS));
      assert.equal(env.FRAUD_TLS_CLIENT_CA_FILE, `${dirname(env.FRAUD_TLS_CERT_FILE ?? '')}/ca.crt`);
      assert.equal(env.FRAUD_TLS_RELOAD_SECONDS, '30');
      assert.equal(env.FRAUD_AUTH_CLIENT_NAMES, 'settlement.payments.svc');
      assert.equal(env.FRAUD_AUTH_WRITES, 'authenticated');
      assert.equal(env.FRAUD_AUTH_READS, 'authenticated');
    });

    it("should present the pod's certificate in a readiness probe over TLS", async () => {
      const command = container(only(await renderChart({ values: [MTLS], set: { 'tls.readinessOverTls': 'true' } }), 'Deployment'), 'fraud-scoring').readinessProbe?.exec?.command ?? [];
      assert.deepEqual(command.slice(-2), ['-tls-client-cert=/etc/fraud-tls/tls.crt', '-tls-client-key=/etc/fraud-tls/tls.key']);
    });

    it("should require client certificates on REST too, and present the pod's certificate to the service", () => {
      const objects = objectsOf(MTLS);
      const config = envoyConfigOf(objects) as Bootstrap;
      const downstream = listener(config, 'rest').filter_chains[0]?.transport_socket?.typed_config;
      assert.equal(downstream?.require_client_certificate, true);
      assert.equal(sdsFile(objects, downstream.common_tls_context.validation_context_sds_secret_config).validation_context?.trusted_ca.filename, '/etc/fraud-tls/ca.crt');
      const upstream = cluster(config, 'fraud_scoring').transport_socket?.typed_config;
      const [clientCertificate] = upstream?.common_tls_context.tls_certificate_sds_secret_configs ?? [];
      assert.equal(sdsFile(objects, clientCertificate).tls_certificate?.certificate_chain.filename, '/etc/fraud-tls/tls.crt');
    });

    it('should keep the created tokens in a Secret only: never in the Deployment, the ConfigMaps or an environment value', () => {
      const objects = objectsOf(MTLS);
      const secret = only(objects, 'Secret', '-auth');
      assert.equal(Buffer.from(secret.data?.tokens ?? '', 'base64').toString('utf8'), 'chargebacks placeholder-not-a-real-token\n');
      for (const object of objects.filter((each) => each.kind !== 'Secret')) assert.doesNotMatch(JSON.stringify(object), /placeholder-not-a-real-token/, `${object.kind} ${object.metadata.name}`);
      const mount = mountAt(deploymentOf(MTLS), serviceOf(MTLS), '/etc/fraud-auth');
      assert.equal(mount.volume.secret?.secretName, secret.metadata.name);
    });
  });

  describe('NetworkPolicy', () => {
    it('should admit callers to gRPC and REST, Prometheus to the metrics, and nothing else', () => {
      const policy = only(objectsOf(NETWORK), 'NetworkPolicy');
      assert.deepEqual(policy.spec.podSelector.matchLabels, deploymentOf(NETWORK).spec.selector.matchLabels);
      assert.deepEqual(policy.spec.policyTypes, ['Ingress', 'Egress']);
      assert.deepEqual(
        policy.spec.ingress?.map((rule) => [rule.from?.map((peer) => peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name']), rule.ports?.map((port) => port.port)]),
        [
          [['payments', 'ingress-nginx'], ['grpc', 'http']],
          [['monitoring'], ['metrics', 'envoy-probe']],
        ],
      );
    });

    it('should let the pods out to DNS, Redis, the model store and Kafka only, on the configured ports', () => {
      const policy = only(objectsOf(NETWORK), 'NetworkPolicy');
      assert.deepEqual(
        policy.spec.egress?.map((rule) => [rule.to?.map((peer) => peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] ?? peer.ipBlock?.cidr), rule.ports?.map((port) => `${port.port}/${port.protocol ?? ''}`)]),
        [
          [['kube-system'], ['53/UDP', '53/TCP']],
          [['redis'], ['6379/TCP']],
          [['lakefs'], ['8000/TCP']],
          [['10.20.0.0/16'], ['9093/TCP']],
        ],
      );
      assert.ok(policy.spec.egress.every((rule) => (rule.to ?? []).length > 0), 'a rule without peers would allow everywhere');
    });

    it('should open only what the setup uses: DNS alone with bundled models and the embedded store, no REST port without Envoy', async () => {
      const peers = { 'networkPolicy.enabled': 'true', 'networkPolicy.ingress.clients[0].namespaceSelector.matchLabels.team': 'payments' };
      const alone = only(await renderChart({ set: peers }), 'NetworkPolicy');
      assert.deepEqual(alone.spec.egress?.map((rule) => rule.ports?.map((port) => port.port)), [[53, 53]]);
      const grpcOnly = only(await renderChart({ values: ['envoy-disabled-values.yaml'], set: peers }), 'NetworkPolicy');
      assert.deepEqual(grpcOnly.spec.ingress?.map((rule) => rule.ports?.map((port) => port.port)), [['grpc'], ['metrics']]);
    });
  });

  describe('refusals (one line naming the value)', () => {
    const refusals: [string, Record<string, string>, RegExp][] = [
      ['TLS without a certificate', { 'tls.enabled': 'true' }, /tls\.enabled needs tls\.existingSecret .* or tls\.certManager\.enabled/],
      ['two sources of the certificate', { 'tls.enabled': 'true', 'tls.existingSecret': 'a', 'tls.certManager.enabled': 'true', 'tls.certManager.issuerRef.name': 'ca' }, /tls\.existingSecret and tls\.certManager\.enabled are mutually exclusive/],
      ['cert-manager without an issuer', { 'tls.enabled': 'true', 'tls.certManager.enabled': 'true' }, /tls\.certManager\.enabled needs tls\.certManager\.issuerRef\.name/],
      ['a health port the pod already uses', { 'tls.enabled': 'true', 'tls.existingSecret': 'a', 'tls.healthPort': '9464' }, /tls\.healthPort \(9464\) is a port the pod already uses/],
      ['mutual TLS without TLS', { 'tls.mutual': 'true' }, /tls\.mutual is true but tls\.enabled is false/],
      ['a certificate while TLS is off', { 'tls.existingSecret': 'a' }, /tls\.existingSecret or tls\.certManager\.enabled is set but tls\.enabled is false/],
      ['authenticated writes with no credentials', { 'auth.writes': 'authenticated' }, /auth\.writes is authenticated but no caller could authenticate/],
      ['authenticated reads with no credentials', { 'auth.reads': 'authenticated' }, /auth\.reads is authenticated but no caller could authenticate/],
      ['reads more closed than writes', { 'auth.reads': 'authenticated', 'auth.writes': 'open', 'auth.tokens.existingSecret': 'x' }, /auth\.writes is open while auth\.reads is authenticated/],
      ['a tokens value without create', { 'auth.tokens.value': 'svc tok' }, /auth\.tokens\.value is set but auth\.tokens\.create is false/],
      ['create without a tokens value', { 'auth.tokens.create': 'true' }, /auth\.tokens\.create needs auth\.tokens\.value/],
      ['two sources of tokens', { 'auth.tokens.create': 'true', 'auth.tokens.value': 'a b', 'auth.tokens.existingSecret': 'x' }, /auth\.tokens\.existingSecret and auth\.tokens\.create are mutually exclusive/],
      ['client names without mutual TLS', { 'auth.clientNames[0]': 'settlement' }, /auth\.clientNames is set but tls\.mutual is false/],
      ['mutual TLS behind Envoy with no client names', { 'tls.enabled': 'true', 'tls.existingSecret': 'a', 'tls.mutual': 'true' }, /auth\.clientNames is empty with tls\.mutual and the Envoy sidecar/],
      ["the pod's own name among the writers", { 'tls.enabled': 'true', 'tls.existingSecret': 'a', 'tls.mutual': 'true', 'auth.clientNames[0]': 'fraud-fraud-scoring.fraud.svc' }, /auth\.clientNames names fraud-fraud-scoring\.fraud\.svc, a name of the pod's own certificate/],
      ['a NetworkPolicy with no clients', { 'networkPolicy.enabled': 'true' }, /networkPolicy\.enabled needs networkPolicy\.ingress\.clients/],
      ['a NetworkPolicy cutting off Redis', { 'networkPolicy.enabled': 'true', 'networkPolicy.ingress.clients[0].podSelector.matchLabels.a': 'b', 'state.store': 'redis', 'state.redis.url': 'redis://r:6379/0' }, /networkPolicy\.egress\.redis\.to is empty with state\.store redis/],
      ['a NetworkPolicy cutting off the models', { 'networkPolicy.enabled': 'true', 'networkPolicy.ingress.clients[0].podSelector.matchLabels.a': 'b', 'models.source': 's3' }, /networkPolicy\.egress\.modelStore\.to is empty with models\.source s3/],
      ['Secrets the pod could not read (no fsGroup)', { 'tls.enabled': 'true', 'tls.existingSecret': 'a', 'podSecurityContext.fsGroup': 'null' }, /podSecurityContext\.fsGroup is unset/],
      ['a NetworkPolicy closing the port of state.redis.url', { 'networkPolicy.enabled': 'true', 'networkPolicy.ingress.clients[0].podSelector.matchLabels.a': 'b', 'state.store': 'redis', 'state.redis.url': 'rediss://r:6380/0', 'networkPolicy.egress.redis.to[0].podSelector.matchLabels.app': 'redis' }, /networkPolicy\.egress\.redis\.ports does not include 6380, the port of state\.redis\.url/],
      ['a NetworkPolicy closing a Sentinel port', { 'networkPolicy.enabled': 'true', 'networkPolicy.ingress.clients[0].podSelector.matchLabels.a': 'b', 'state.store': 'redis', 'state.redis.sentinel.hosts[0]': 's1:26379', 'networkPolicy.egress.redis.to[0].podSelector.matchLabels.app': 'redis' }, /networkPolicy\.egress\.redis\.ports does not include 26379, the port of the Sentinel s1:26379/],
      ['a NetworkPolicy closing the model store port', { 'networkPolicy.enabled': 'true', 'networkPolicy.ingress.clients[0].podSelector.matchLabels.a': 'b', 'models.source': 's3', 's3.endpoint': 'http://lakefs.lakefs:8000', 'networkPolicy.egress.modelStore.to[0].podSelector.matchLabels.app': 'lakefs' }, /networkPolicy\.egress\.modelStore\.ports does not include 8000, the port of s3\.endpoint \(http:\/\/lakefs\.lakefs:8000\)/],
      ['a tokens file in extraEnv', { 'config.extraEnv[0].name': 'FRAUD_AUTH_TOKENS_FILE', 'config.extraEnv[0].value': '/tmp/t' }, /config\.extraEnv: FRAUD_AUTH_TOKENS_FILE is set by the chart/],
      ['an unknown write policy', { 'auth.writes': 'closed' }, /at '\/auth\/writes'/],
      ['a misspelt TLS key', { 'tls.enabeld': 'true' }, /at '\/tls': additional properties 'enabeld' not allowed/],
      ['a certificate lifetime in days', { 'tls.certManager.duration': '90d' }, /at '\/tls\/certManager\/duration'/],
      ['a reload interval of zero', { 'tls.reloadSeconds': '0' }, /at '\/tls\/reloadSeconds'/],
      ['a misspelt network peer', { 'networkPolicy.ingress.clients[0].podselector.matchLabels.a': 'b' }, /at '\/networkPolicy\/ingress\/clients\/0': additional properties 'podselector' not allowed/],
      ['a CIDR without its prefix length', { 'networkPolicy.egress.kafka.to[0].ipBlock.cidr': '10.0.0.1' }, /at '\/networkPolicy\/egress\/kafka\/to\/0\/ipBlock\/cidr'/],
    ];
    for (const [what, set, message] of refusals) {
      it(`should refuse ${what}`, async () => {
        const error = await renderChartError({ set });
        assert.match(error, message);
        const line = error.split('\n').find((each) => message.test(each));
        assert.ok(line !== undefined, 'the reason fits on one line');
      });
    }
  });

  describe('NOTES.txt', () => {
    it('should print grpcurl and curl commands that trust the CA and present a client certificate under mutual TLS', async () => {
      const notes = await renderNotes({ values: [MTLS] });
      assert.match(notes, /kubectl -n fraud get secret fraud-fraud-scoring-tls -o jsonpath='\{\.data\.ca\\\.crt\}' \| base64 -d > ca\.crt/);
      assert.match(notes, /grpcurl -cacert ca\.crt -authority fraud-fraud-scoring\.fraud\.svc -cert client\.crt -key client\.key localhost:50051 list/);
      assert.match(notes, /curl -s --cacert ca\.crt --connect-to fraud-fraud-scoring\.fraud\.svc:8080:localhost:8080 --cert client\.crt --key client\.key -X POST https:\/\/fraud-fraud-scoring\.fraud\.svc:8080\/predict /);
      assert.match(notes, /Writes \(ReportOutcome\) need a bearer token .* or a client certificate named settlement\.payments\.svc\./);
      assert.doesNotMatch(notes, /-plaintext/);
    });

    it('should warn that writes are open and that no NetworkPolicy fences the pods, by default', async () => {
      const notes = await renderNotes();
      assert.match(notes, /WARNING: writes are open/);
      assert.match(notes, /No NetworkPolicy: every pod in the cluster can reach these pods/);
      assert.doesNotMatch(await renderNotes({ values: [TLS_SECRET] }), /WARNING: writes are open/);
    });
  });
});

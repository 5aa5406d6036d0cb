import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { CI_VALUES, container, only, renderChart, renderChartError, renderNotes, type Container, type Deployment, type EnvVar, type K8sObject, type NetworkPolicy } from './chart.js';

const CASE = 'decision-log-values.yaml';
/** Any ingress client: a NetworkPolicy is refused without one. */
const POLICY = { 'networkPolicy.enabled': 'true', 'networkPolicy.ingress.clients[0].podSelector.matchLabels.a': 'b' };
const KAFKA_POLICY = { ...POLICY, 'decisionLog.kafka.brokers[0]': 'kafka-0.kafka:9093', 'networkPolicy.egress.kafka.to[0].podSelector.matchLabels.app': 'kafka' };

function decisionLogEnv(of: Container): Record<string, Omit<EnvVar, 'name'>> {
  return Object.fromEntries(
    (of.env ?? []).filter((variable) => variable.name.startsWith('FRAUD_DECISION_LOG_')).map(({ name, ...rest }) => [name, rest]),
  );
}

/** The environment as the service would see it; values from Secrets and the downward API stand in as text. */
function environmentOf(of: Container): Record<string, string> {
  return Object.fromEntries((of.env ?? []).map((variable) => [variable.name, variable.value ?? 'from-the-cluster']));
}

function egressPorts(policy: NetworkPolicy): (number | string)[][] {
  return (policy.spec.egress ?? []).map((rule) => (rule.ports ?? []).map((port) => port.port));
}

/** helm's error output for values that must be refused. */
async function refusal(set: Readonly<Record<string, string>>): Promise<string> {
  return renderChartError({ set });
}

describe('the Helm chart: the decision log', () => {
  let byDefault: K8sObject[] = [];
  let full: K8sObject[] = [];
  before(async function () {
    this.timeout(60_000);
    byDefault = await renderChart();
    full = await renderChart({ values: [CASE] });
  });

  it('should be off by default: no FRAUD_DECISION_LOG_* variable, no volume of its own', () => {
    const deployment = only(byDefault, 'Deployment');
    assert.deepEqual(decisionLogEnv(container(deployment, 'fraud-scoring')), {});
    const names = (deployment.spec.template.spec.volumes ?? []).map((volume) => volume.name);
    assert.ok(!names.includes('decision-log') && !names.includes('kafka-ca'), names.join(','));
  });

  it('should render every sink of ci/decision-log-values.yaml, the instance from the pod name and the SASL password from its Secret only', () => {
    const service = container(only(full, 'Deployment'), 'fraud-scoring');
    assert.deepEqual(decisionLogEnv(service), {
      FRAUD_DECISION_LOG_INSTANCE: { valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      FRAUD_DECISION_LOG_BUFFER_RECORDS: { value: '20000' },
      FRAUD_DECISION_LOG_BATCH_RECORDS: { value: '250' },
      FRAUD_DECISION_LOG_DIR: { value: '/var/log/fraud-decisions' },
      FRAUD_DECISION_LOG_FILE_MAX_BYTES: { value: '67108864' },
      FRAUD_DECISION_LOG_FILE_ROTATE_SECONDS: { value: '900' },
      FRAUD_DECISION_LOG_FILE_KEEP: { value: '24' },
      FRAUD_DECISION_LOG_FILE_FLUSH_SECONDS: { value: '1' },
      FRAUD_DECISION_LOG_KAFKA_BROKERS: { value: 'kafka-0.kafka-brokers.kafka.svc:9093,kafka-1.kafka-brokers.kafka.svc:9093' },
      FRAUD_DECISION_LOG_KAFKA_TOPIC: { value: 'fraud-decisions' },
      FRAUD_DECISION_LOG_KAFKA_TLS: { value: 'true' },
      FRAUD_DECISION_LOG_KAFKA_CA_FILE: { value: '/etc/fraud-kafka-ca/ca.crt' },
      FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM: { value: 'scram-sha-512' },
      FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME: { value: 'fraud-scoring' },
      FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD: { valueFrom: { secretKeyRef: { name: 'fraud-scoring-kafka', key: 'password' } } },
      FRAUD_DECISION_LOG_S3_URI: { value: 's3://fraud-data/decisions/log' },
      FRAUD_DECISION_LOG_S3_OBJECT_RECORDS: { value: '5000' },
      FRAUD_DECISION_LOG_S3_FLUSH_SECONDS: { value: '30' },
    });
  });

  it("should mount the file sink's volume where FRAUD_DECISION_LOG_DIR points and the brokers' CA read-only as a directory holding FRAUD_DECISION_LOG_KAFKA_CA_FILE", () => {
    const deployment = only(full, 'Deployment');
    const service = container(deployment, 'fraud-scoring');
    const log = loadConfig(environmentOf(service)).decisionLog;
    const mount = (name: string) => service.volumeMounts?.find((candidate) => candidate.name === name);
    const volume = (name: string) => deployment.spec.template.spec.volumes?.find((candidate) => candidate.name === name);
    assert.equal(mount('decision-log')?.mountPath, log.file?.dir);
    assert.notEqual(mount('decision-log')?.readOnly, true);
    assert.deepEqual(volume('decision-log'), { name: 'decision-log', emptyDir: { sizeLimit: '2Gi' } });
    assert.deepEqual(mount('kafka-ca'), { name: 'kafka-ca', mountPath: '/etc/fraud-kafka-ca', readOnly: true });
    assert.equal(mount('kafka-ca')?.subPath, undefined);
    assert.equal(dirname(log.kafka?.caFile ?? ''), mount('kafka-ca')?.mountPath);
    assert.deepEqual(volume('kafka-ca'), { name: 'kafka-ca', secret: { secretName: 'kafka-cluster-ca-cert', defaultMode: 0o444 } });
    assert.equal(service.securityContext?.readOnlyRootFilesystem, true);
  });

  it("should give the object sink the service's S3 endpoint and key pair even with the models bundled", () => {
    const service = container(only(full, 'Deployment'), 'fraud-scoring');
    const config = loadConfig(environmentOf(service));
    assert.equal(config.modelUris.binary.protocol, 'file:', 'the models are the bundled ones');
    assert.equal(config.s3.endpoint, 'http://minio.minio.svc.cluster.local:9000');
    assert.deepEqual(config.decisionLog.s3, { bucket: 'fraud-data', prefix: 'decisions/log', objectRecords: 5000, flushMs: 30_000 });
    const env = (name: string) => service.env?.find((variable) => variable.name === name);
    assert.equal(env('FRAUD_S3_ENDPOINT')?.value, 'http://minio.minio.svc.cluster.local:9000');
    assert.deepEqual(env('AWS_SECRET_ACCESS_KEY')?.valueFrom?.secretKeyRef, { name: 'fraud-decisions-minio', key: 'AWS_SECRET_ACCESS_KEY' });
  });

  it("should open the brokers' port and the object store's in the NetworkPolicy", () => {
    const ports = egressPorts(only(full, 'NetworkPolicy'));
    assert.ok(ports.some((rule) => rule.includes(9093)), JSON.stringify(ports));
    assert.ok(ports.some((rule) => rule.includes(9000)), JSON.stringify(ports));
  });

  it('should take a given instance name, the CA from a ConfigMap, the user from the Secret and the files on an existing claim', async () => {
    const deployment = only(
      await renderChart({
        values: [CASE],
        set: {
          'decisionLog.instance': 'scoring-eu-1',
          'decisionLog.kafka.tls.caSecret': '',
          'decisionLog.kafka.tls.caConfigMap': 'kafka-ca-bundle',
          'decisionLog.kafka.tls.caKey': 'bundle.pem',
          'decisionLog.kafka.sasl.username': '',
          'decisionLog.kafka.sasl.usernameKey': 'username',
          'decisionLog.file.existingClaim': 'fraud-decisions',
        },
      }),
      'Deployment',
    );
    const env = decisionLogEnv(container(deployment, 'fraud-scoring'));
    assert.deepEqual(env.FRAUD_DECISION_LOG_INSTANCE, { value: 'scoring-eu-1' });
    assert.deepEqual(env.FRAUD_DECISION_LOG_KAFKA_CA_FILE, { value: '/etc/fraud-kafka-ca/bundle.pem' });
    assert.deepEqual(env.FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME, { valueFrom: { secretKeyRef: { name: 'fraud-scoring-kafka', key: 'username' } } });
    const volumes = deployment.spec.template.spec.volumes ?? [];
    assert.deepEqual(volumes.find((volume) => volume.name === 'kafka-ca'), { name: 'kafka-ca', configMap: { name: 'kafka-ca-bundle', defaultMode: 0o444 } });
    assert.deepEqual(volumes.find((volume) => volume.name === 'decision-log'), { name: 'decision-log', persistentVolumeClaim: { claimName: 'fraud-decisions' } });
  });

  it('should say in NOTES where the records go, and nothing of a decision log that is off', async () => {
    assert.match(
      await renderNotes({ values: [CASE] }),
      /Decision log \(docs\/decision-log\.md\): files in \/var\/log\/fraud-decisions \(an emptyDir: lost with the pod\); Kafka topic fraud-decisions \(it must exist\); objects under s3:\/\/fraud-data\/decisions\/log;/,
    );
    assert.doesNotMatch(await renderNotes(), /Decision log/);
  });

  it('should never render the Kafka SASL password as a plain value, in any ci/ case', async function () {
    this.timeout(60_000);
    for (const file of CI_VALUES) {
      const deployment: Deployment = only(await renderChart({ values: [file] }), 'Deployment');
      for (const variable of container(deployment, 'fraud-scoring').env ?? []) {
        if (variable.name === 'FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD') assert.ok(variable.value === undefined && variable.valueFrom?.secretKeyRef !== undefined, file);
      }
    }
  });

  const refusals: [string, Record<string, string>, RegExp][] = [
    ['a NetworkPolicy closing the brokers\' port', { ...KAFKA_POLICY, 'networkPolicy.egress.kafka.ports[0].port': '9092' }, /networkPolicy\.egress\.kafka\.ports does not include 9093, the port of the broker kafka-0\.kafka:9093 \(decisionLog\.kafka\.brokers\)/],
    ['a NetworkPolicy with no Kafka peer', { ...POLICY, 'decisionLog.kafka.brokers[0]': 'kafka-0.kafka:9092' }, /networkPolicy\.egress\.kafka\.to is empty with decisionLog\.kafka\.brokers/],
    ['a NetworkPolicy with no object store peer', { ...POLICY, 'decisionLog.s3.uri': 's3://fraud-data/decisions' }, /networkPolicy\.egress\.modelStore\.to is empty with decisionLog\.s3\.uri/],
    ['a NetworkPolicy closing the object store\'s port', { ...POLICY, 'decisionLog.s3.uri': 's3://fraud-data/decisions', 's3.endpoint': 'http://minio.minio:9000', 'networkPolicy.egress.modelStore.to[0].podSelector.matchLabels.app': 'minio' }, /networkPolicy\.egress\.modelStore\.ports does not include 9000, the port of s3\.endpoint/],
    ['SASL without TLS', { 'decisionLog.kafka.brokers[0]': 'k:9093', 'decisionLog.kafka.sasl.mechanism': 'plain', 'decisionLog.kafka.sasl.username': 'u', 'decisionLog.kafka.sasl.existingSecret': 's' }, /decisionLog\.kafka\.sasl\.mechanism is set but decisionLog\.kafka\.tls\.enabled is false/],
    ['SASL without the password\'s Secret', { 'decisionLog.kafka.brokers[0]': 'k:9093', 'decisionLog.kafka.tls.enabled': 'true', 'decisionLog.kafka.sasl.mechanism': 'plain', 'decisionLog.kafka.sasl.username': 'u' }, /decisionLog\.kafka\.sasl\.mechanism needs decisionLog\.kafka\.sasl\.existingSecret/],
    ['a password as a value', { 'decisionLog.kafka.sasl.password': 'plain' }, /at '\/decisionLog\/kafka\/sasl': additional properties 'password' not allowed/],
    ['the password in extraEnv', { 'config.extraEnv[0].name': 'FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD', 'config.extraEnv[0].value': 'plain' }, /config\.extraEnv: FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD is set by the chart from decisionLog/],
    ['a CA without TLS', { 'decisionLog.kafka.brokers[0]': 'k:9093', 'decisionLog.kafka.tls.caSecret': 'ca' }, /decisionLog\.kafka\.tls\.caSecret or caConfigMap is set but decisionLog\.kafka\.tls\.enabled is false/],
    ['two CA sources', { 'decisionLog.kafka.brokers[0]': 'k:9093', 'decisionLog.kafka.tls.enabled': 'true', 'decisionLog.kafka.tls.caSecret': 'a', 'decisionLog.kafka.tls.caConfigMap': 'b' }, /mutually exclusive: use one source of the brokers' CA/],
    ['batches larger than the buffer', { 'decisionLog.file.enabled': 'true', 'decisionLog.bufferRecords': '100', 'decisionLog.batchRecords': '500' }, /decisionLog\.batchRecords \(500\) must be at most decisionLog\.bufferRecords \(100\)/],
    ['a broker without a port', { 'decisionLog.kafka.brokers[0]': 'kafka-0.kafka' }, /at '\/decisionLog\/kafka\/brokers\/0'/],
    ['a misspelt sink key', { 'decisionLog.file.enable': 'true' }, /at '\/decisionLog\/file': additional properties 'enable' not allowed/],
    ['a termination grace the flush cannot finish in', { 'decisionLog.file.enabled': 'true', terminationGracePeriodSeconds: '15' }, /terminationGracePeriodSeconds \(15\) must exceed lifecycle\.preStopSleepSeconds \+ config\.shutdownGraceSeconds \(15\)/],
  ];
  for (const [what, set, message] of refusals) {
    it(`should refuse ${what}, in one line naming the value`, async () => {
      const error = await refusal(set);
      assert.ok(
        error.split('\n').some((line) => message.test(line)),
        `the reason must fit on one line: ${error}`,
      );
    });
  }
});

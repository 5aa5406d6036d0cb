import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { credentials, InterceptingCall, status, type Interceptor } from '@grpc/grpc-js';
import { FraudClient } from '../../client/fraudClient.js';
import { refusal } from '../helpers/refusal.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { waitFor } from '../helpers/waitFor.js';
import { container, only, renderChart, type K8sObject } from './chart.js';
import { forDnsNames, TestCertificateAuthority, type IssuedCertificate } from '../helpers/certificates.js';
import { runTool } from '../helpers/tools.js';

/** The mutual-TLS setup: cert-manager's Secret, tokens, writers by certificate name. */
const VALUES = 'tls-cert-manager-mtls-values.yaml';
/** The name clients check in the service's certificate (the ClusterIP Service's). */
const SERVICE_NAME = 'fraud-fraud-scoring.fraud.svc';
/** The writer ci/tls-cert-manager-mtls-values.yaml allows by certificate, and its token file's principal. */
const WRITER = 'settlement.payments.svc';
const TOKEN = 'placeholder-not-a-real-token';
/** Set by the chart for a pod's network; the spawned process gets free local ports instead. */
const POD_NETWORK = new Set(['FRAUD_GRPC_HOST', 'FRAUD_GRPC_PORT', 'FRAUD_METRICS_PORT', 'FRAUD_HEALTH_PORT']);

/** The pod's mount points, moved to folders of this machine. */
type Mounts = Readonly<Record<'/etc/fraud-tls' | '/etc/fraud-auth' | '/var/lib/fraud-state', string>>;

function podEnvironment(objects: readonly K8sObject[], mounts: Mounts): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const variable of container(only(objects, 'Deployment'), 'fraud-scoring').env ?? []) {
    if (POD_NETWORK.has(variable.name) || variable.value === undefined) continue;
    let value = variable.value;
    for (const [mount, folder] of Object.entries(mounts)) if (value.startsWith(`${mount}/`)) value = join(folder, value.slice(mount.length + 1));
    environment[variable.name] = value;
  }
  return environment;
}

/** The service with a pod's environment, once serving; fails at once when it refuses its configuration and exits. */
async function startPod(environment: Record<string, string>): Promise<SpawnedService> {
  const service = await spawnService(environment);
  let serving = false;
  const exited = service.exited.then((code) => {
    if (!serving) assert.fail(`the service exited (${String(code)}): ${service.stderr.join('')} ${JSON.stringify(service.logs.slice(-3))}`);
  });
  await Promise.race([service.waitForLog('serving', 30_000), exited]);
  serving = true;
  return service;
}

function bearer(token: string): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

describe('the chart with mutual TLS on a real service process (certificates made by openssl)', () => {
  let ca: TestCertificateAuthority;
  let objects: K8sObject[];
  let service: SpawnedService;
  let mounts: Mounts;
  let pod: IssuedCertificate;
  /** Where this machine's process answers the pod's FRAUD_HEALTH_PORT. */
  let healthPort: number;
  const clients: FraudClient[] = [];

  /** A client presenting `certificate` (and a bearer token when given), trusting the CA. */
  async function clientWith(certificate: IssuedCertificate, token?: string): Promise<FraudClient> {
    const client = new FraudClient({
      address: service.address,
      credentials: credentials.createSsl(await readFile(ca.certificate.certFile), await readFile(certificate.keyFile), await readFile(certificate.certFile)),
      channelOptions: {
        'grpc.ssl_target_name_override': SERVICE_NAME,
        'grpc.default_authority': SERVICE_NAME,
        ...(token === undefined ? {} : { interceptors: [bearer(token)] }),
      },
      retry: { attempts: 1 },
    });
    clients.push(client);
    return client;
  }

  before(async function () {
    this.timeout(60_000);
    ca = await TestCertificateAuthority.createTemporary();
    objects = await renderChart({ values: [VALUES] });
    const names = only(objects, 'Certificate').spec.dnsNames;
    pod = await ca.issue('pod', forDnsNames(names, ['serverAuth', 'clientAuth']));
    mounts = { '/etc/fraud-tls': join(ca.dir, 'tls'), '/etc/fraud-auth': join(ca.dir, 'auth'), '/var/lib/fraud-state': join(ca.dir, 'state') };
    for (const folder of Object.values(mounts)) await mkdir(folder);
    // The Secrets as the pod sees them: cert-manager's kubernetes.io/tls Secret and the tokens file.
    await copyFile(pod.certFile, join(mounts['/etc/fraud-tls'], 'tls.crt'));
    await copyFile(pod.keyFile, join(mounts['/etc/fraud-tls'], 'tls.key'));
    await copyFile(ca.certificate.certFile, join(mounts['/etc/fraud-tls'], 'ca.crt'));
    const tokensSecret = only(objects, 'Secret', '-auth');
    await writeFile(join(mounts['/etc/fraud-auth'], 'tokens'), Buffer.from(tokensSecret.data?.tokens ?? '', 'base64'));
    service = await startPod({ ...podEnvironment(objects, mounts), FRAUD_HEALTH_PORT: '0' });
    healthPort = Number((await service.waitForLog('listening')).healthPort);
  });
  after(async () => {
    for (const client of clients) client.close();
    await service.kill('SIGTERM');
    await ca.dispose();
  });

  it("should answer the chart's gRPC readiness probe on the plaintext health port, as the kubelet asks it (no TLS, no certificate)", async function () {
    this.timeout(30_000);
    const probe = container(only(objects, 'Deployment'), 'fraud-scoring').readinessProbe?.grpc;
    assert.equal(probe?.port, Number(container(only(objects, 'Deployment'), 'fraud-scoring').env?.find((each) => each.name === 'FRAUD_HEALTH_PORT')?.value));
    const ready = await runTool('grpc-health-probe', [`-addr=127.0.0.1:${healthPort}`, `-service=${probe.service ?? ''}`]);
    assert.equal(ready.code, 0, ready.stderr);
    const plaintextToTls = await runTool('grpc-health-probe', [`-addr=${service.address}`, `-service=${probe.service ?? ''}`, '-connect-timeout=1s']);
    assert.notEqual(plaintextToTls.code, 0, 'the gRPC port itself speaks only TLS');
  });

  it("should pass the chart's readiness probe over TLS (tls.readinessOverTls: the real grpc_health_probe with the pod's certificate)", async function () {
    this.timeout(30_000);
    const overTls = await renderChart({ values: [VALUES], set: { 'tls.readinessOverTls': 'true' } });
    const [, ...args] = container(only(overTls, 'Deployment'), 'fraud-scoring').readinessProbe?.exec?.command ?? [];
    const local = args.map((arg) => arg.replace('/etc/fraud-tls', mounts['/etc/fraud-tls']).replace(/^-addr=127\.0\.0\.1:50051$/, `-addr=${service.address}`));
    const result = await runTool('grpc-health-probe', local);
    assert.equal(result.code, 0, result.stderr);
  });

  it('should score for any client certificate the CA verifies, and refuse a connection without one', async function () {
    this.timeout(30_000);
    const other = await ca.issue('reader', forDnsNames(['reader.payments.svc'], ['clientAuth']));
    const answer = await (await clientWith(other)).predict({ transactionId: 1, customerId: 42, terminalId: 7, txAmount: 250, txTimeSeconds: 3600 });
    assert.equal(answer.prediction, 'FRAUD');
    const anonymous = new FraudClient({
      address: service.address,
      credentials: credentials.createSsl(await readFile(ca.certificate.certFile)),
      channelOptions: { 'grpc.ssl_target_name_override': SERVICE_NAME },
      retry: { attempts: 1 },
      deadlineMs: 3_000,
    });
    clients.push(anonymous);
    assert.equal((await refusal(anonymous.predict({ transactionId: 2, customerId: 42, terminalId: 7, txAmount: 10, txTimeSeconds: 3600 }))).code, status.UNAVAILABLE);
  });

  it('should let the certificate auth.clientNames names write, and refuse another certificate', async function () {
    this.timeout(30_000);
    const writer = await clientWith(await ca.issue('writer', forDnsNames([WRITER], ['clientAuth'])));
    await writer.predict({ transactionId: 10, customerId: 42, terminalId: 7, txAmount: 30, txTimeSeconds: 3600 });
    await writer.reportOutcome({ transactionId: 10, outcome: 'fraud', knownAtSeconds: 7200 });
    const other = await clientWith(await ca.issue('not-a-writer', forDnsNames(['reader.payments.svc'], ['clientAuth'])));
    assert.equal((await refusal(other.reportOutcome({ transactionId: 10, outcome: 'fraud', knownAtSeconds: 7200 }))).code, status.PERMISSION_DENIED);
  });

  it("should refuse a write from the pod's own certificate (what Envoy presents for REST callers) unless it carries a valid bearer token", async function () {
    this.timeout(30_000);
    const sidecar = await clientWith(pod);
    await sidecar.predict({ transactionId: 20, customerId: 43, terminalId: 7, txAmount: 30, txTimeSeconds: 3600 });
    assert.equal((await refusal(sidecar.reportOutcome({ transactionId: 20, outcome: 'fraud', knownAtSeconds: 7200 }))).code, status.PERMISSION_DENIED);
    assert.equal((await refusal((await clientWith(pod, 'not-the-token')).reportOutcome({ transactionId: 20, outcome: 'fraud', knownAtSeconds: 7200 }))).code, status.UNAUTHENTICATED);
    await (await clientWith(pod, TOKEN)).reportOutcome({ transactionId: 20, outcome: 'fraud', knownAtSeconds: 7200 });
  });
});

/**
 * A Secret volume as the kubelet writes it: the files live in a timestamped
 * folder, `..data` points at it, and each name is a link through `..data`. A
 * renewal writes a new folder and swaps `..data` with one rename.
 */
class SecretVolume {
  private generation = 0;

  constructor(readonly dir: string) {}

  async write(files: Readonly<Record<string, string>>): Promise<void> {
    this.generation += 1;
    const folder = `..generation_${this.generation}`;
    await mkdir(join(this.dir, folder));
    for (const [name, source] of Object.entries(files)) await copyFile(source, join(this.dir, folder, name));
    await symlink(folder, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const name of Object.keys(files)) {
      if (this.generation === 1) await symlink(join('..data', name), join(this.dir, name));
    }
  }
}

/** SHA-256 fingerprint of the certificate the service presents to a new connection now. */
function servedFingerprint(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolveFingerprint, rejectFingerprint) => {
    const socket = connectTls({ host: '127.0.0.1', port, ca, servername: SERVICE_NAME, ALPNProtocols: ['h2'] }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolveFingerprint(fingerprint);
    });
    socket.once('error', rejectFingerprint);
  });
}

describe("the chart's TLS Secret volume renewed in place, on a real service process", () => {
  it('should serve the renewed certificate without a restart (tls.reloadSeconds)', async function () {
    this.timeout(60_000);
    const ca = await TestCertificateAuthority.createTemporary();
    let service: SpawnedService | undefined;
    try {
      const objects = await renderChart({ values: ['tls-existing-secret-values.yaml'], set: { 'tls.reloadSeconds': '1' } });
      const names = [SERVICE_NAME];
      const first = await ca.issue('first', forDnsNames(names, ['serverAuth', 'clientAuth']));
      const second = await ca.issue('second', forDnsNames(names, ['serverAuth', 'clientAuth']));
      const mounts: Mounts = { '/etc/fraud-tls': join(ca.dir, 'tls'), '/etc/fraud-auth': join(ca.dir, 'auth'), '/var/lib/fraud-state': join(ca.dir, 'state') };
      for (const folder of Object.values(mounts)) await mkdir(folder);
      await writeFile(join(mounts['/etc/fraud-auth'], 'tokens'), 'rotation a-token-of-24-characters\n');
      const volume = new SecretVolume(mounts['/etc/fraud-tls']);
      await volume.write({ 'tls.crt': first.certFile, 'tls.key': first.keyFile, 'ca.crt': ca.certificate.certFile });
      service = await startPod(podEnvironment(objects, mounts));
      const caPem = await readFile(ca.certificate.certFile);
      const fingerprintOf = async (certificate: IssuedCertificate): Promise<string> => new X509Certificate(await readFile(certificate.certFile)).fingerprint256;
      const port = service.grpcPort;
      const served = (): Promise<string> => servedFingerprint(port, caPem);
      assert.equal(await served(), await fingerprintOf(first));
      await volume.write({ 'tls.crt': second.certFile, 'tls.key': second.keyFile, 'ca.crt': ca.certificate.certFile });
      const renewed = await fingerprintOf(second);
      await waitFor('the renewed certificate', async () => (await served()) === renewed, 20_000, 100);
    } finally {
      await service?.kill('SIGTERM');
      await ca.dispose();
    }
  });
});

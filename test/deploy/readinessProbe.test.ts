import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { container, only, renderChart } from './chart.js';
import { forDnsNames, TestCertificateAuthority, type IssuedCertificate, type KeyUsage } from '../helpers/certificates.js';
import { runTool } from '../helpers/tools.js';

/** Where the chart mounts the TLS Secret in the pod. */
const TLS_DIR = '/etc/fraud-tls';
const SERVICE = 'fraud.v1.FraudService';
/** grpc_health_probe's exit codes. */
const HEALTHY = 0;
const CONNECTION_FAILED = 2;
const UNHEALTHY = 4;

interface TlsServer {
  readonly port: number;
  readonly health: HealthImplementation;
  stop(): Promise<void>;
}

/** A real grpc-js server on a free port answering gRPC health over TLS (mutual: client certificates the CA verifies). */
async function startTlsServer(ca: TestCertificateAuthority, certificate: IssuedCertificate, mutual: boolean): Promise<TlsServer> {
  const credentials = grpc.ServerCredentials.createSsl(
    await readFile(ca.certificate.certFile),
    [{ cert_chain: await readFile(certificate.certFile), private_key: await readFile(certificate.keyFile) }],
    mutual,
  );
  const server = new grpc.Server();
  const health = new HealthImplementation({ '': 'SERVING', [SERVICE]: 'NOT_SERVING' });
  health.addToServer(server);
  const port = await new Promise<number>((resolvePort, rejectPort) => {
    server.bindAsync('127.0.0.1:0', credentials, (error, bound) => {
      if (error === null) resolvePort(bound);
      else rejectPort(error);
    });
  });
  return {
    port,
    health,
    stop: () =>
      new Promise<void>((resolveStop) => {
        server.tryShutdown(() => {
          resolveStop();
        });
      }),
  };
}

/**
 * The scoring container's readiness command as the chart renders it, run here:
 * the Secret's mount point becomes `secretDir`, the image's probe binary the
 * installed grpc-health-probe, and the pod's port the test server's.
 */
async function readinessCommand(values: string, secretDir: string, port: number): Promise<{ command: string; args: string[] }> {
  const probe = container(only(await renderChart({ values: [values], set: { 'tls.readinessOverTls': 'true' } }), 'Deployment'), 'fraud-scoring').readinessProbe;
  const [binary, ...args] = probe?.exec?.command ?? [];
  assert.equal(binary, '/usr/local/bin/grpc_health_probe', 'the image ships grpc_health_probe there (Dockerfile)');
  return {
    command: 'grpc-health-probe',
    args: args.map((arg) => arg.replace(TLS_DIR, secretDir).replace(/^-addr=127\.0\.0\.1:50051$/, `-addr=127.0.0.1:${port}`)),
  };
}

/** The files of a kubernetes.io/tls Secret as the pod sees them. */
async function secretVolume(ca: TestCertificateAuthority, name: string, certificate: IssuedCertificate): Promise<string> {
  const dir = join(ca.dir, `secret-${name}`);
  await mkdir(dir);
  await copyFile(certificate.certFile, join(dir, 'tls.crt'));
  await copyFile(certificate.keyFile, join(dir, 'tls.key'));
  await copyFile(ca.certificate.certFile, join(dir, 'ca.crt'));
  return dir;
}

describe("the chart's readiness probe over TLS (tls.readinessOverTls: the real grpc_health_probe against a TLS server)", () => {
  let ca: TestCertificateAuthority;
  const podNames = ['fraud-fraud-scoring.fraud.svc', 'fraud-fraud-scoring-grpc.fraud.svc'];
  const issue = (file: string, usages: readonly KeyUsage[]): Promise<IssuedCertificate> => ca.issue(file, forDnsNames(podNames, usages));
  before(async function () {
    this.timeout(30_000);
    ca = await TestCertificateAuthority.createTemporary();
  });
  after(async () => {
    await ca.dispose();
  });

  async function probe(values: string, secretDir: string, port: number): Promise<number> {
    const { command, args } = await readinessCommand(values, secretDir, port);
    const result = await runTool(command, args);
    return result.code;
  }

  it('should ask gRPC health of fraud.v1.FraudService over TLS: unready while NOT_SERVING, ready once SERVING', async function () {
    this.timeout(30_000);
    const certificate = await issue('server-only', ['serverAuth']);
    const server = await startTlsServer(ca, certificate, false);
    try {
      const dir = await secretVolume(ca, 'tls', certificate);
      assert.equal(await probe('tls-existing-secret-values.yaml', dir, server.port), UNHEALTHY, 'the models are not loaded: not ready');
      server.health.setStatus(SERVICE, 'SERVING');
      assert.equal(await probe('tls-existing-secret-values.yaml', dir, server.port), HEALTHY);
    } finally {
      await server.stop();
    }
  });

  it("should pass mutual TLS with the pod's own certificate, which therefore needs the client auth usage", async function () {
    this.timeout(30_000);
    const both = await issue('pod', ['serverAuth', 'clientAuth']);
    const server = await startTlsServer(ca, both, true);
    try {
      server.health.setStatus(SERVICE, 'SERVING');
      assert.equal(await probe('tls-cert-manager-mtls-values.yaml', await secretVolume(ca, 'mtls', both), server.port), HEALTHY);
      // The same Secret with a server-only certificate (what an issuer gives
      // without `client auth` in the Certificate's usages): the handshake fails.
      const serverOnly = await issue('pod-server-only', ['serverAuth']);
      assert.equal(await probe('tls-cert-manager-mtls-values.yaml', await secretVolume(ca, 'server-only', serverOnly), server.port), CONNECTION_FAILED);
    } finally {
      await server.stop();
    }
  });

  it('should not reach a mutual-TLS server with the TLS-only probe (no client certificate): the chart adds it under tls.mutual', async function () {
    this.timeout(30_000);
    const both = await issue('pod-plain', ['serverAuth', 'clientAuth']);
    const server = await startTlsServer(ca, both, true);
    try {
      server.health.setStatus(SERVICE, 'SERVING');
      assert.equal(await probe('tls-existing-secret-values.yaml', await secretVolume(ca, 'plain', both), server.port), CONNECTION_FAILED);
    } finally {
      await server.stop();
    }
  });
});

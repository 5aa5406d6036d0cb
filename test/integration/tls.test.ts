import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { status } from '@grpc/grpc-js';
import { FraudClient } from '../../client/fraudClient.js';
import { LOCAL_SERVER_NAMES, TestCertificateAuthority, type IssuedCertificate } from '../helpers/certificates.js';
import { refusal } from '../helpers/refusal.js';
import { sample, scrape } from '../helpers/scrape.js';
import { runTool } from '../helpers/tools.js';
import { startTestService, transaction, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

describe('TLS and mutual TLS on the gRPC listener (certificates made by openssl in the test)', function () {
  this.timeout(60_000);
  let dir: string;
  let ca: TestCertificateAuthority;
  let otherCa: TestCertificateAuthority;
  let server: IssuedCertificate;
  let running: TestService | undefined;
  const clients: FraudClient[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fraud-tls-'));
    ca = await TestCertificateAuthority.create(dir, 'fraud-test-ca');
    otherCa = await TestCertificateAuthority.create(dir, 'other-ca');
    server = await ca.issue('server', { commonName: 'fraud-scoring', altNames: LOCAL_SERVER_NAMES });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await running?.stop();
    running = undefined;
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function client(options: Partial<ConstructorParameters<typeof FraudClient>[0]>): FraudClient {
    assert.ok(running);
    const made = new FraudClient({ address: running.address, deadlineMs: 10_000, retry: { attempts: 1 }, ...options });
    clients.push(made);
    return made;
  }

  async function start(env: Record<string, string>): Promise<TestService> {
    running = await startTestService({ FRAUD_TLS_CERT_FILE: server.certFile, FRAUD_TLS_KEY_FILE: server.keyFile, ...env });
    return running;
  }

  it('should answer a client that trusts the CA of its certificate, and export when the certificate expires', async () => {
    const service = await start({});
    const answer = await client({ tls: { ca: ca.certificate.cert } }).predict(transaction());
    assert.ok(answer.fraudProbability >= 0 && answer.fraudProbability <= 1);
    const expiry = sample(await scrape(service.service.metricsPort), 'fraud_tls_certificate_expiry_timestamp_seconds{certificate="server"}');
    assert.equal(expiry, new Date(new X509Certificate(server.cert).validTo).getTime() / 1000);
  });

  it('should be refused by a client that trusts another CA, and by a plaintext client', async () => {
    await start({});
    const wrongCa = await refusal(client({ tls: { ca: otherCa.certificate.cert } }).predict(transaction()));
    assert.equal(wrongCa.code, status.UNAVAILABLE);
    assert.match(wrongCa.details, /certificate/i);
    const plaintext = await refusal(client({}).predict(transaction()));
    assert.equal(plaintext.code, status.UNAVAILABLE);
  });

  it('should check the server name in the certificate, and take an override', async () => {
    await start({});
    const other = await refusal(client({ tls: { ca: ca.certificate.cert, serverName: 'fraud.example.org' } }).predict(transaction()));
    assert.equal(other.code, status.UNAVAILABLE);
    assert.match(other.details, /fraud\.example\.org|altnames|Hostname/i);
    const named = await ca.issue('named', { commonName: 'fraud-scoring', altNames: ['DNS:fraud.example.org'] });
    await running?.stop();
    running = await startTestService({ FRAUD_TLS_CERT_FILE: named.certFile, FRAUD_TLS_KEY_FILE: named.keyFile });
    const answer = await client({ tls: { ca: ca.certificate.cert, serverName: 'fraud.example.org' } }).predict(transaction());
    assert.ok(answer.model);
  });

  describe('mutual TLS (FRAUD_TLS_CLIENT_CA_FILE)', () => {
    it('should answer a client whose certificate the client CA verifies', async () => {
      await start({ FRAUD_TLS_CLIENT_CA_FILE: ca.certificate.certFile });
      const payments = await ca.issue('payments', { commonName: 'payments' });
      const answer = await client({ tls: { ca: ca.certificate.cert, cert: payments.cert, key: payments.key } }).predict(transaction());
      assert.ok(answer.model);
    });

    it('should refuse a client without a certificate, and one whose certificate another CA signed', async () => {
      await start({ FRAUD_TLS_CLIENT_CA_FILE: ca.certificate.certFile });
      const none = await refusal(client({ tls: { ca: ca.certificate.cert } }).predict(transaction()));
      assert.equal(none.code, status.UNAVAILABLE);
      const stranger = await otherCa.issue('stranger', { commonName: 'payments' });
      const foreign = await refusal(client({ tls: { ca: ca.certificate.cert, cert: stranger.cert, key: stranger.key } }).predict(transaction()));
      assert.equal(foreign.code, status.UNAVAILABLE);
    });
  });

  describe('health for probes without a certificate (FRAUD_HEALTH_PORT)', () => {
    it('should answer grpc-health-probe in plaintext on the health port, and nothing but health there', async () => {
      const service = await start({ FRAUD_TLS_CLIENT_CA_FILE: ca.certificate.certFile, FRAUD_HEALTH_PORT: '0' });
      const healthPort = service.service.healthPort;
      assert.ok(healthPort !== undefined && healthPort !== service.service.grpcPort);
      const probe = await runTool('grpc-health-probe', ['-addr', `127.0.0.1:${healthPort}`, '-service', 'fraud.v1.FraudService']);
      assert.equal(probe.code, 0, probe.stderr);
      assert.equal(probe.stderr, 'status: SERVING\n');
      // The kubelet's probe on the main port: no certificate, so no answer.
      const mainPort = await runTool('grpc-health-probe', ['-addr', service.address, '-connect-timeout', '2s']);
      assert.notEqual(mainPort.code, 0);
      const plaintext = new FraudClient({ address: `127.0.0.1:${healthPort}`, retry: { attempts: 1 } });
      clients.push(plaintext);
      const scoring = await refusal(plaintext.predict(transaction()));
      assert.equal(scoring.code, status.UNIMPLEMENTED);
    });
  });

  describe('rotation (FRAUD_TLS_RELOAD_SECONDS)', () => {
    /**
     * A Secret volume as the kubelet writes it: tls.crt and tls.key are links
     * into `..data`, itself a link to a folder of the current version, which
     * a new version replaces in one rename; both files change at once.
     */
    async function secretVolume(name: string): Promise<{ certFile: string; keyFile: string; publish: (cert: Buffer, key: Buffer) => Promise<void> }> {
      const volume = join(dir, name);
      await mkdir(volume);
      let version = 0;
      const publish = async (cert: Buffer, key: Buffer): Promise<void> => {
        version++;
        const folder = join(volume, `..v${version}`);
        await mkdir(folder);
        await writeFile(join(folder, 'tls.crt'), cert);
        await writeFile(join(folder, 'tls.key'), key);
        await symlink(`..v${version}`, join(volume, '..data_tmp'));
        await rename(join(volume, '..data_tmp'), join(volume, '..data'));
      };
      await publish(server.cert, server.key);
      await symlink(join('..data', 'tls.crt'), join(volume, 'tls.crt'));
      await symlink(join('..data', 'tls.key'), join(volume, 'tls.key'));
      return { certFile: join(volume, 'tls.crt'), keyFile: join(volume, 'tls.key'), publish };
    }

    /** The serial number of the certificate a new TLS connection to the service is served. */
    function servedSerial(port: number): Promise<string> {
      return new Promise((resolveSerial, rejectSerial) => {
        const socket = connect({ host: '127.0.0.1', port, ca: ca.certificate.cert, servername: 'localhost', ALPNProtocols: ['h2'] }, () => {
          const serial = socket.getPeerCertificate().serialNumber;
          socket.destroy();
          resolveSerial(serial);
        });
        socket.once('error', rejectSerial);
      });
    }

    it('should serve a replaced certificate to new connections without failing a call on the open ones, and keep it when a bad file follows', async () => {
      const files = await secretVolume('rotating');
      running = await startTestService({ FRAUD_TLS_CERT_FILE: files.certFile, FRAUD_TLS_KEY_FILE: files.keyFile, FRAUD_TLS_RELOAD_SECONDS: '0.1' });
      const { metricsPort, grpcPort } = running.service;
      assert.equal(await servedSerial(grpcPort), new X509Certificate(server.cert).serialNumber);

      // Load on an open connection, all through the rotation.
      const loaded = client({ tls: { ca: ca.certificate.cert } });
      let stop = false;
      let calls = 0;
      const failures: string[] = [];
      const loops = Array.from({ length: 4 }, async () => {
        while (!stop) {
          try {
            await loaded.predict(transaction());
            calls++;
          } catch (error) {
            // One failure is enough to fail the test (and a closed client fails at once, which would spin).
            failures.push(String(error));
            return;
          }
        }
      });
      try {
        await waitFor('calls on the open connection', () => calls >= 20);

        const renewed = await ca.issue('renewed', { commonName: 'fraud-scoring', altNames: LOCAL_SERVER_NAMES });
        await files.publish(renewed.cert, renewed.key);
        await waitFor('the reload', async () => sample(await scrape(metricsPort), 'fraud_tls_reloads_total{result="ok"}') === 1);
        assert.equal(await servedSerial(grpcPort), new X509Certificate(renewed.cert).serialNumber);
        assert.equal(
          sample(await scrape(metricsPort), 'fraud_tls_certificate_expiry_timestamp_seconds{certificate="server"}'),
          new Date(new X509Certificate(renewed.cert).validTo).getTime() / 1000,
        );
        const fresh = await client({ tls: { ca: ca.certificate.cert } }).predict(transaction());
        assert.ok(fresh.model);

        // A key of another certificate: refused, counted, logged; the renewed certificate stays.
        const before = calls;
        await files.publish(renewed.cert, server.key);
        await waitFor('the refusal', async () => sample(await scrape(metricsPort), 'fraud_tls_reloads_total{result="error"}') === 1);
        const refusals = running.logs.filter((record) => record.msg.startsWith('TLS certificate files refused'));
        assert.equal(refusals.length, 1);
        assert.match(refusals[0]?.msg ?? '', /FRAUD_TLS_KEY_FILE: is not the private key of the certificate/);
        assert.equal(await servedSerial(grpcPort), new X509Certificate(renewed.cert).serialNumber);
        await waitFor('more calls after the refusal', () => calls >= before + 20);
      } finally {
        stop = true;
        await Promise.all(loops);
      }
      assert.deepEqual(failures, []);
      assert.equal(sample(await scrape(metricsPort), 'fraud_tls_reloads_total{result="ok"}'), 1);
    });
  });
});

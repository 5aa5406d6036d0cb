import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStartup } from '../helpers/spawnService.js';
import { LOCAL_SERVER_NAMES, TestCertificateAuthority, type IssuedCertificate } from '../helpers/certificates.js';

describe('service start-up with certificate and token files that cannot be used', function () {
  this.timeout(60_000);
  let dir: string;
  let server: IssuedCertificate;
  let other: IssuedCertificate;
  let expired: IssuedCertificate;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fraud-tls-start-'));
    const ca = await TestCertificateAuthority.create(dir, 'start-ca');
    server = await ca.issue('server', { commonName: 'fraud-scoring', altNames: LOCAL_SERVER_NAMES });
    other = await ca.issue('other', { commonName: 'other', altNames: LOCAL_SERVER_NAMES });
    const now = Date.now();
    expired = await ca.issue('expired', { commonName: 'fraud-scoring', altNames: LOCAL_SERVER_NAMES, notBefore: new Date(now - 2 * 86_400_000), notAfter: new Date(now - 60_000) });
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('should exit 2 with one line naming FRAUD_TLS_CERT_FILE and the date when the server certificate has expired', async () => {
    const result = await runStartup({ FRAUD_TLS_CERT_FILE: expired.certFile, FRAUD_TLS_KEY_FILE: expired.keyFile });
    assert.match(result.stderr, /^configuration error: FRAUD_TLS_CERT_FILE: the certificate expired on \d{4}-\d\d-\d\dT[\d:.]+Z \(CN=fraud-scoring\); renew it\n$/);
    assert.equal(result.code, 2);
    assert.ok(!result.stdout.includes('"msg":"listening"'));
  });

  const cases: { name: string; env: () => Record<string, string>; line: RegExp }[] = [
    {
      name: 'a key of another certificate',
      env: () => ({ FRAUD_TLS_CERT_FILE: server.certFile, FRAUD_TLS_KEY_FILE: other.keyFile }),
      line: /^configuration error: FRAUD_TLS_KEY_FILE: is not the private key of the certificate in FRAUD_TLS_CERT_FILE \(CN=fraud-scoring\)\n$/,
    },
    {
      name: 'a certificate file that does not exist',
      env: () => ({ FRAUD_TLS_CERT_FILE: join(dir, 'missing.crt'), FRAUD_TLS_KEY_FILE: server.keyFile }),
      line: /^configuration error: FRAUD_TLS_CERT_FILE: cannot read .+missing\.crt \(ENOENT\)\n$/,
    },
    {
      name: 'a certificate without its key',
      env: () => ({ FRAUD_TLS_CERT_FILE: server.certFile }),
      line: /^configuration error: FRAUD_TLS_KEY_FILE: is required with FRAUD_TLS_CERT_FILE/,
    },
    {
      name: 'a key file that holds a certificate',
      env: () => ({ FRAUD_TLS_CERT_FILE: server.certFile, FRAUD_TLS_KEY_FILE: server.certFile }),
      line: /^configuration error: FRAUD_TLS_KEY_FILE: holds no usable PEM private key/,
    },
    {
      name: 'a malformed tokens file',
      env: () => ({ FRAUD_AUTH_TOKENS_FILE: join(dir, 'tokens') }),
      line: /^configuration error: FRAUD_AUTH_TOKENS_FILE: line 2: expected "<principal> <token>"\n$/,
    },
  ];
  for (const { name, env, line } of cases) {
    it(`should exit 2 with one line naming the variable for ${name}`, async () => {
      await writeFile(join(dir, 'tokens'), '# principal token\nchargebacks-token-without-principal-0123\n');
      const result = await runStartup(env());
      assert.match(result.stderr, line);
      assert.equal(result.stderr.split('\n').length, 2, result.stderr);
      assert.equal(result.code, 2);
    });
  }
});

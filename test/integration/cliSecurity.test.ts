import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCAL_SERVER_NAMES, TestCertificateAuthority, type IssuedCertificate } from '../helpers/certificates.js';
import { runCli } from '../helpers/cliRun.js';
import { CLI_SCRIPT } from '../helpers/paths.js';
import { startTestService, type TestService } from '../helpers/testService.js';

const DAY = 86_400;
const TOKEN = 'cli-chargebacks-token-0123456789';

describe('fraud-cli over TLS with a bearer token (--tls-*, --token-file, FRAUD_TOKEN)', function () {
  this.timeout(60_000);
  let dir: string;
  let ca: TestCertificateAuthority;
  let other: TestCertificateAuthority;
  let client: IssuedCertificate;
  let tokenFile: string;
  let running: TestService;
  let nextId = 700_000;

  /** Scores a transaction of its own card, for an outcome to name. */
  async function scored(tls: string[]): Promise<string> {
    nextId++;
    const run = await runCli(running.address, [
      'predict', ...tls, '--transaction-id', String(nextId), '--customer-id', String(nextId), '--terminal-id', '77', '--amount', '20', '--time-seconds', String(30 * DAY),
    ]);
    assert.equal(run.code, 0, run.stderr);
    return String(nextId);
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fraud-cli-tls-'));
    ca = await TestCertificateAuthority.create(dir, 'cli-ca');
    other = await TestCertificateAuthority.create(dir, 'cli-other-ca');
    const server = await ca.issue('server', { commonName: 'fraud-scoring', altNames: LOCAL_SERVER_NAMES });
    client = await ca.issue('client', { commonName: 'chargebacks' });
    tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${TOKEN}\n`);
    const tokens = join(dir, 'tokens');
    await writeFile(tokens, `chargebacks ${TOKEN}\n`);
    running = await startTestService({ FRAUD_TLS_CERT_FILE: server.certFile, FRAUD_TLS_KEY_FILE: server.keyFile, FRAUD_AUTH_TOKENS_FILE: tokens });
  });

  after(async () => {
    await running.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('should report an outcome over TLS with the token of FRAUD_TOKEN, and of --token-file, never printing it', async () => {
    const tls = ['--tls-ca-file', ca.certificate.certFile];
    const first = await scored(tls);
    const fromEnv = await runCli(running.address, ['outcome', ...tls, '--transaction-id', first, '--outcome', 'fraud'], '', {}, { FRAUD_TOKEN: TOKEN });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.equal(fromEnv.stdout, `transaction ${first}: applied\n`);
    const second = await scored(tls);
    const fromFile = await runCli(running.address, ['outcome', ...tls, '--token-file', tokenFile, '--transaction-id', second, '--outcome', 'fraud', '--json']);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.match(fromFile.stdout, /OUTCOME_STATUS_APPLIED/);
    for (const run of [fromEnv, fromFile]) assert.ok(!`${run.stdout}${run.stderr}`.includes(TOKEN));
  });

  it('should say how to give a token when the service wants one, without printing the token it was given', async () => {
    const tls = ['--tls-ca-file', ca.certificate.certFile];
    const id = await scored(tls);
    const missing = await runCli(running.address, ['outcome', ...tls, '--transaction-id', id, '--outcome', 'fraud']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: UNAUTHENTICATED: .+ \(CREDENTIALS_MISSING\); give a bearer token with --token-file PATH or FRAUD_TOKEN/);
    const wrong = await runCli(running.address, ['outcome', ...tls, '--transaction-id', id, '--outcome', 'fraud'], '', {}, { FRAUD_TOKEN: 'wrong-token-0123456789abcdef' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /\(TOKEN_INVALID\)/);
    assert.ok(!wrong.stderr.includes('wrong-token-0123456789abcdef'));
  });

  it('should name --tls-ca-file when the service is signed by a CA it does not trust, and --tls when it dials plaintext', async () => {
    const untrusted = await runCli(running.address, ['health', '--tls-ca-file', other.certificate.certFile]);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /^error: no TLS connection to the service at .+: the service's certificate is not trusted \(.+\); give the CA that signed it with --tls-ca-file\n$/);
    const plaintext = await runCli(running.address, ['health', '--deadline-ms', '2000']);
    assert.equal(plaintext.code, 1);
    assert.match(plaintext.stderr, /if it speaks TLS, add --tls or --tls-ca-file\n$/);
    const systemRoots = await runCli(running.address, ['health', '--tls']);
    assert.match(systemRoots.stderr, /the service's certificate is not trusted .+ --tls-ca-file\n$/);
    const misnamed = await runCli(running.address, ['health', '--tls-ca-file', ca.certificate.certFile, '--tls-server-name', 'fraud.example.org']);
    assert.match(misnamed.stderr, /does not carry the name dialled .+; give the name it carries with --tls-server-name\n$/);
  });

  it('should name --tls-cert-file and --tls-key-file when the service wants a client certificate, and pass with one', async () => {
    const server = await ca.issue('mutual-server', { commonName: 'fraud-scoring', altNames: LOCAL_SERVER_NAMES });
    const mutual = await startTestService({ FRAUD_TLS_CERT_FILE: server.certFile, FRAUD_TLS_KEY_FILE: server.keyFile, FRAUD_TLS_CLIENT_CA_FILE: ca.certificate.certFile });
    try {
      const without = await runCli(mutual.address, ['models', '--tls-ca-file', ca.certificate.certFile]);
      assert.equal(without.code, 1);
      assert.match(without.stderr, /the service wants a client certificate it trusts \(mutual TLS\): give one with --tls-cert-file and --tls-key-file\n$/);
      const withCertificate = await runCli(mutual.address, ['models', '--tls-ca-file', ca.certificate.certFile, '--tls-cert-file', client.certFile, '--tls-key-file', client.keyFile]);
      assert.equal(withCertificate.code, 0, withCertificate.stderr);
    } finally {
      await mutual.stop();
    }
  });

  it('should refuse half a client certificate, an unreadable file and an empty token file as a bad command line', async () => {
    const half = await runCli(running.address, ['health', '--tls-cert-file', client.certFile]);
    assert.equal(half.code, 2);
    assert.match(half.stderr, /--tls-cert-file and --tls-key-file go together/);
    const missing = await runCli(running.address, ['health', '--tls-ca-file', join(dir, 'nope.crt')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^error: cannot read --tls-ca-file .+nope\.crt \(ENOENT\)\n/);
    const empty = join(dir, 'empty-token');
    await writeFile(empty, '\n');
    const blank = await runCli(running.address, ['health', '--tls-ca-file', ca.certificate.certFile, '--token-file', empty]);
    assert.equal(blank.code, 2);
    assert.match(blank.stderr, /must hold one bearer token/);
  });

  it('should run as the fraud-cli binary over TLS with FRAUD_TOKEN', async () => {
    const id = await scored(['--tls-ca-file', ca.certificate.certFile]);
    const child = spawn(process.execPath, [CLI_SCRIPT, 'outcome', '--tls-ca-file', ca.certificate.certFile, '--transaction-id', id, '--outcome', 'legitimate'], {
      env: { PATH: process.env.PATH ?? '', FRAUD_ADDRESS: running.address, FRAUD_TOKEN: TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolveExit) => child.once('close', resolveExit));
    assert.equal(code, 0, stderr);
    assert.equal(stdout, `transaction ${id}: applied\n`);
    // Nothing else: no Node deprecation warning about dialling an IP address over TLS either.
    assert.equal(stderr, '');
  });
});

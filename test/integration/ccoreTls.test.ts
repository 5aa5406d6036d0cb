import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PredictRequest, ReportOutcomeRequest, Outcome, Transaction } from '../../src/gen/fraud/v1/fraud_service.js';
import { ErrorInfo } from '../../src/gen/google/rpc/error_details.js';
import { Status } from '../../src/gen/google/rpc/status.js';
import { packageRoot } from '../../src/packageRoot.js';
import { LOCAL_SERVER_NAMES, TestCertificateAuthority, type IssuedCertificate } from '../helpers/certificates.js';
import { startTestService, type TestService } from '../helpers/testService.js';

const run = promisify(execFile);
const PYTHON = join(packageRoot, '.tools', 'venv', 'bin', 'python');
const C_CORE_CALL = join(packageRoot, 'test', 'helpers', 'ccore_call.py');
const TOKEN = 'ccore-chargebacks-token-0123456789';

interface CcoreAnswer {
  readonly code: string;
  readonly details: string;
  readonly reason: string | undefined;
}

describe('a grpcio (C-core) client over mutual TLS, with and without a bearer token', function () {
  this.timeout(60_000);
  let dir: string;
  let ca: TestCertificateAuthority;
  let dashboard: IssuedCertificate;
  let running: TestService;

  async function call(method: string, request: Uint8Array, options: { identity?: IssuedCertificate; token?: string }): Promise<CcoreAnswer> {
    const identity = options.identity === undefined ? [] : ['--cert', options.identity.certFile, '--key', options.identity.keyFile];
    const { stdout } = await run(PYTHON, [C_CORE_CALL, running.address, method, Buffer.from(request).toString('hex'), '--ca', ca.certificate.certFile, ...identity], {
      timeout: 30_000,
      env: { PATH: process.env.PATH ?? '', ...(options.token === undefined ? {} : { FRAUD_TOKEN: options.token }) },
    });
    const answer = JSON.parse(stdout) as { code: string; details: string; statusDetails: string };
    const details = answer.statusDetails === '' ? [] : Status.decode(Buffer.from(answer.statusDetails, 'base64')).details;
    const info = details.find((detail) => detail.typeUrl === 'type.googleapis.com/google.rpc.ErrorInfo');
    return { code: answer.code, details: answer.details, reason: info === undefined ? undefined : ErrorInfo.decode(info.value).reason };
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fraud-ccore-tls-'));
    ca = await TestCertificateAuthority.create(dir, 'ccore-ca');
    const server = await ca.issue('server', { commonName: 'fraud-scoring', altNames: LOCAL_SERVER_NAMES });
    dashboard = await ca.issue('dashboard', { commonName: 'dashboard' });
    const tokens = join(dir, 'tokens');
    await writeFile(tokens, `chargebacks ${TOKEN}\n`);
    running = await startTestService({
      FRAUD_TLS_CERT_FILE: server.certFile,
      FRAUD_TLS_KEY_FILE: server.keyFile,
      FRAUD_TLS_CLIENT_CA_FILE: ca.certificate.certFile,
      FRAUD_AUTH_CLIENT_NAMES: 'chargebacks',
      FRAUD_AUTH_TOKENS_FILE: tokens,
    });
  });

  after(async () => {
    await running.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('should score for a client with a certificate, refuse one without, and take a write only with a token from a certificate not allowed to write', async () => {
    const transaction = Transaction.fromPartial({ transactionId: 880_001n, customerId: 880_001n, terminalId: 77n, txAmount: 20, txTimeSeconds: 3600n });
    const predict = PredictRequest.encode({ transaction, explain: false }).finish();
    assert.equal((await call('/fraud.v1.FraudService/Predict', predict, { identity: dashboard })).code, 'OK');
    assert.equal((await call('/fraud.v1.FraudService/Predict', predict, {})).code, 'UNAVAILABLE');
    const report = ReportOutcomeRequest.encode(ReportOutcomeRequest.fromPartial({ outcome: { transactionId: 880_001n, outcome: Outcome.OUTCOME_FRAUD } })).finish();
    const denied = await call('/fraud.v1.FraudService/ReportOutcome', report, { identity: dashboard });
    assert.deepEqual([denied.code, denied.reason], ['PERMISSION_DENIED', 'CLIENT_NOT_ALLOWED']);
    const wrong = await call('/fraud.v1.FraudService/ReportOutcome', report, { identity: dashboard, token: 'not-the-token-0123456789abcdef' });
    assert.deepEqual([wrong.code, wrong.reason], ['UNAUTHENTICATED', 'TOKEN_INVALID']);
    assert.equal((await call('/fraud.v1.FraudService/ReportOutcome', report, { identity: dashboard, token: TOKEN })).code, 'OK');
  });
});

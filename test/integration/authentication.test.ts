import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, status } from '@grpc/grpc-js';
import { FraudClient, type FraudClientOptions } from '../../client/fraudClient.js';
import { OutcomeStatus } from '../../src/gen/fraud/v1/fraud_service.js';
import { ServerReflectionClient } from '../../src/gen/grpc/reflection/v1/reflection.js';
import { LOCAL_SERVER_NAMES, TestCertificateAuthority, type IssuedCertificate } from '../helpers/certificates.js';
import { refusal } from '../helpers/refusal.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, transaction, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const DAY = 86_400;
const TOKEN = 'chargeback-token-0123456789abcdef';
const OTHER_TOKEN = 'payments-token-fedcba9876543210';
const WRONG_TOKEN = 'not-a-token-of-this-service-000';

describe('authentication of writes and reads (FRAUD_AUTH_*)', function () {
  this.timeout(60_000);
  let dir: string;
  let tokensFile: string;
  let running: TestService | undefined;
  const clients: FraudClient[] = [];
  let nextId = 500_000;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fraud-auth-'));
    tokensFile = join(dir, 'tokens');
  });

  beforeEach(async () => {
    await writeFile(tokensFile, `# principal token\nchargebacks ${TOKEN}\n`);
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await running?.stop();
    running = undefined;
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function client(options: Partial<FraudClientOptions> = {}): FraudClient {
    assert.ok(running);
    const made = new FraudClient({ address: running.address, deadlineMs: 10_000, retry: { attempts: 1 }, ...options });
    clients.push(made);
    return made;
  }

  /** A transaction scored (so recorded) now, for an outcome to name. */
  async function scored(): Promise<number> {
    nextId++;
    await client().predict(transaction({ transactionId: nextId, txTimeSeconds: 30 * DAY, txTimeDays: 30 }));
    return nextId;
  }

  async function refusals(method: string, reason: string): Promise<number | undefined> {
    assert.ok(running);
    return sample(await scrape(running.service.metricsPort), `fraud_auth_refusals_total{method="fraud.v1.FraudService/${method}",reason="${reason}"}`);
  }

  describe('with a tokens file (writes authenticated by default, reads open)', () => {
    beforeEach(async () => {
      running = await startTestService({ FRAUD_AUTH_TOKENS_FILE: tokensFile, FRAUD_TLS_RELOAD_SECONDS: '0.1' });
    });

    it('should refuse a write without a token with UNAUTHENTICATED and CREDENTIALS_MISSING, counted and logged once, and record nothing', async () => {
      const id = await scored();
      const missing = await refusal(client().reportOutcome({ transactionId: id, outcome: 'fraud' }));
      assert.equal(missing.code, status.UNAUTHENTICATED);
      assert.equal(missing.reason, 'CREDENTIALS_MISSING');
      const batch = await refusal(client().reportOutcomes([{ transactionId: id, outcome: 'fraud' }]));
      assert.equal(batch.code, status.UNAUTHENTICATED);
      await refusal(client().reportOutcome({ transactionId: id, outcome: 'fraud' }));
      assert.equal(await refusals('ReportOutcome', 'credentials_missing'), 2);
      assert.equal(await refusals('ReportOutcomeBatch', 'credentials_missing'), 1);
      const warned = running?.logs.filter((record) => record.msg.startsWith('call refused by authentication') && record.level === 'warn') ?? [];
      assert.equal(warned.length, 1);
      assert.equal(warned[0]?.method, 'fraud.v1.FraudService/ReportOutcome');
      // Nothing was recorded: the first authenticated report applies.
      const applied = await client({ token: TOKEN }).reportOutcome({ transactionId: id, outcome: 'fraud' });
      assert.equal(applied.status, OutcomeStatus.OUTCOME_STATUS_APPLIED);
    });

    it('should refuse a wrong token with TOKEN_INVALID and never log a token', async () => {
      const id = await scored();
      const wrong = await refusal(client({ token: WRONG_TOKEN }).reportOutcome({ transactionId: id, outcome: 'fraud' }));
      assert.equal(wrong.code, status.UNAUTHENTICATED);
      assert.equal(wrong.reason, 'TOKEN_INVALID');
      assert.equal(await refusals('ReportOutcome', 'token_invalid'), 1);
      const applied = await client({ token: TOKEN }).reportOutcome({ transactionId: id, outcome: 'fraud' });
      assert.equal(applied.status, OutcomeStatus.OUTCOME_STATUS_APPLIED);
      const logs = JSON.stringify(running?.logs);
      assert.ok(logs.includes('TOKEN_INVALID'));
      assert.ok(!logs.includes(WRONG_TOKEN) && !logs.includes(TOKEN), 'a token in the log');
    });

    it('should answer reads without a token, and a token-holder too', async () => {
      assert.ok((await client().predict(transaction())).model);
      assert.ok((await client({ token: TOKEN }).getModelInfo()).models.length > 0);
    });

    it('should apply a replaced tokens file: the new token is taken, the old refused', async () => {
      const id = await scored();
      assert.ok(running);
      const { metricsPort } = running.service;
      await writeFile(`${tokensFile}.new`, `payments ${OTHER_TOKEN}\n`);
      await rename(`${tokensFile}.new`, tokensFile);
      await waitFor('the tokens reload', async () => sample(await scrape(metricsPort), 'fraud_auth_tokens_reloads_total{result="ok"}') === 1);
      const old = await refusal(client({ token: TOKEN }).reportOutcome({ transactionId: id, outcome: 'fraud' }));
      assert.equal(old.reason, 'TOKEN_INVALID');
      const applied = await client({ token: OTHER_TOKEN }).reportOutcome({ transactionId: id, outcome: 'fraud' });
      assert.equal(applied.status, OutcomeStatus.OUTCOME_STATUS_APPLIED);

      // A malformed file (a token too short) keeps the tokens in force.
      await writeFile(`${tokensFile}.new`, 'payments short\n');
      await rename(`${tokensFile}.new`, tokensFile);
      await waitFor('the refusal', async () => sample(await scrape(metricsPort), 'fraud_auth_tokens_reloads_total{result="error"}') === 1);
      assert.ok((await client({ token: OTHER_TOKEN }).reportOutcomes([{ transactionId: id, outcome: 'fraud' }])).length === 1);
      const line = running.logs.find((record) => record.msg.startsWith('bearer token file refused'));
      assert.match(line?.msg ?? '', /FRAUD_AUTH_TOKENS_FILE: line 1: the token of payments is shorter than 16 characters/);
      assert.ok(!JSON.stringify(running.logs).includes(OTHER_TOKEN));
    });
  });

  describe('FRAUD_AUTH_READS=authenticated', () => {
    beforeEach(async () => {
      running = await startTestService({ FRAUD_AUTH_TOKENS_FILE: tokensFile, FRAUD_AUTH_READS: 'authenticated' });
    });

    it('should refuse scoring and GetModelInfo without a token, answer them with one, and leave health and reflection open', async () => {
      const predict = await refusal(client().predict(transaction()));
      assert.equal(predict.code, status.UNAUTHENTICATED);
      assert.equal(predict.reason, 'CREDENTIALS_MISSING');
      assert.equal((await refusal(client().getModelInfo())).code, status.UNAUTHENTICATED);
      assert.equal(await refusals('Predict', 'credentials_missing'), 1);
      assert.ok((await client({ token: TOKEN }).predict(transaction())).model);
      assert.equal(await client().checkHealth(), 'SERVING');
      assert.ok(running);
      const reflection = new ServerReflectionClient(running.address, credentials.createInsecure());
      try {
        const services = await new Promise<string[]>((resolveList, rejectList) => {
          const stream = reflection.serverReflectionInfo();
          stream.once('data', (answer: { listServicesResponse?: { service: { name: string }[] } }) => {
            stream.end();
            resolveList(answer.listServicesResponse?.service.map((service) => service.name) ?? []);
          });
          stream.once('error', rejectList);
          stream.write({ host: '', listServices: '' });
        });
        assert.ok(services.includes('fraud.v1.FraudService'));
      } finally {
        reflection.close();
      }
    });
  });

  describe('client certificates (mutual TLS) with FRAUD_AUTH_CLIENT_NAMES', () => {
    let ca: TestCertificateAuthority;
    let server: IssuedCertificate;
    let writer: IssuedCertificate;
    let spiffeWriter: IssuedCertificate;
    let reader: IssuedCertificate;

    before(async () => {
      ca = await TestCertificateAuthority.create(dir, 'client-ca');
      server = await ca.issue('server', { commonName: 'fraud-scoring', altNames: LOCAL_SERVER_NAMES });
      writer = await ca.issue('chargebacks', { commonName: 'chargebacks' });
      spiffeWriter = await ca.issue('spiffe', { commonName: 'workload', altNames: ['URI:spiffe://example.org/ns/payments/sa/outcomes'] });
      reader = await ca.issue('dashboard', { commonName: 'dashboard' });
    });

    beforeEach(async () => {
      running = await startTestService({
        FRAUD_TLS_CERT_FILE: server.certFile,
        FRAUD_TLS_KEY_FILE: server.keyFile,
        FRAUD_TLS_CLIENT_CA_FILE: ca.certificate.certFile,
        FRAUD_AUTH_CLIENT_NAMES: 'chargebacks, spiffe://example.org/ns/payments/sa/outcomes',
      });
    });

    const as = (identity: IssuedCertificate, token?: string): FraudClient => client({ tls: { ca: ca.certificate.cert, cert: identity.cert, key: identity.key }, token });

    it('should let a listed certificate (by CN or URI SAN) write, refuse another with PERMISSION_DENIED, and let it read', async () => {
      nextId++;
      await as(reader).predict(transaction({ transactionId: nextId, txTimeSeconds: 30 * DAY, txTimeDays: 30 }));
      const denied = await refusal(as(reader).reportOutcome({ transactionId: nextId, outcome: 'fraud' }));
      assert.equal(denied.code, status.PERMISSION_DENIED);
      assert.equal(denied.reason, 'CLIENT_NOT_ALLOWED');
      assert.equal(await refusals('ReportOutcome', 'client_not_allowed'), 1);
      assert.equal(running?.logs.find((record) => record.reason === 'CLIENT_NOT_ALLOWED')?.principal, 'dashboard');
      assert.equal((await as(writer).reportOutcome({ transactionId: nextId, outcome: 'fraud' })).status, OutcomeStatus.OUTCOME_STATUS_APPLIED);
      assert.equal((await as(spiffeWriter).reportOutcome({ transactionId: nextId, outcome: 'fraud' })).status, OutcomeStatus.OUTCOME_STATUS_DUPLICATE);
    });
  });
});

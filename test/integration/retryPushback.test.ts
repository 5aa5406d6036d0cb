import { Client, credentials, status, type ChannelOptions, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FraudCallError, FraudClient } from '../../client/fraudClient.js';
import { fraudServiceConfig } from '../../client/serviceConfig.js';
import { FraudServiceService, Outcome, OutcomeStatus, PredictRequest, PredictResponse, ReportOutcomeRequest, ReportOutcomeResponse, Transaction } from '../../src/gen/fraud/v1/fraud_service.js';
import { packageRoot } from '../../src/packageRoot.js';
import { runCli } from '../helpers/cliRun.js';
import { DnsServer } from '../helpers/dnsServer.js';
import { RecordingRelay, type RelayEvent } from '../helpers/recordingRelay.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const run = promisify(execFile);
const PYTHON = join(packageRoot, '.tools', 'venv', 'bin', 'python');
const C_CORE_CALL = join(packageRoot, 'test', 'helpers', 'ccore_call.py');
const STOCK_PREDICT = join(packageRoot, 'dist', 'test', 'helpers', 'stockPredict.js');
/** grpc-go's client, built from test/helpers/gocall (a Go module of its own) before the tests. */
const GO_CALL = join(packageRoot, 'dist', 'test', 'helpers', 'gocall');
const SERVICE_CONFIG_FILE = join(packageRoot, 'deploy', 'service-config.json');
/** The published service config, as clients read it. */
const SERVICE_CONFIG = readFileSync(SERVICE_CONFIG_FILE, 'utf8');

/** One row in flight in the whole process: a call holding it leaves no room for any other. */
const ONE_ROW = { FRAUD_MAX_BATCH_SIZE: '1', FRAUD_MAX_ROWS_IN_FLIGHT: '1', FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION: '1' };

const predictRequest = (transactionId: bigint): PredictRequest => ({
  transaction: Transaction.fromPartial({ transactionId, customerId: 77n, terminalId: 7n, txAmount: 42.5, txTimeSeconds: 3600n, features: {} }),
  explain: false,
});

/** The events of a busy answer retried as gRPC's retry design says: after its pushback, marked as a retry. */
const RETRIED_AFTER_PUSHBACK = (method: string): RelayEvent[] => [
  { kind: 'attempt', method, previousAttempts: undefined },
  { kind: 'answer', code: status.RESOURCE_EXHAUSTED, pushbackMs: '100' },
  { kind: 'pushback over' },
  { kind: 'attempt', method, previousAttempts: '1' },
  { kind: 'answer', code: status.OK, pushbackMs: undefined },
];

/** Calls of `method` (e.g. "Predict") the service saw arrive as retries. */
async function retriesSeen(running: TestService, method: string): Promise<number> {
  return sample(await scrape(running.service.metricsPort), `fraud_grpc_retry_attempts_total{method="fraud.v1.FraudService/${method}"}`) ?? 0;
}

async function rowsInFlight(running: TestService): Promise<number> {
  return sample(await scrape(running.service.metricsPort), 'fraud_rows_in_flight') ?? Number.NaN;
}

/**
 * A Predict that sends its request and never half-closes: the service has
 * taken its row (admission counts a request once it is checked) and waits for
 * the end of the request, so the row stays taken, never answered, never
 * reclaimed, until `release` cancels the call.
 */
async function holdRow(running: TestService): Promise<{ release(): Promise<void> }> {
  const client = new Client(running.address, credentials.createInsecure());
  const method = FraudServiceService.predict;
  const held: ClientWritableStream<PredictRequest> = client.makeClientStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, () => undefined);
  held.write(predictRequest(999n));
  await waitFor('the held call taking its row', async () => (await rowsInFlight(running)) === 1);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      held.cancel();
      client.close();
      await waitFor('the held row given back', async () => (await rowsInFlight(running)) === 0);
    },
  };
}

/** A stock grpc-js client (no typed wrapper) calling `method` once, with these channel options. */
function stockCall<Request, Response>(
  address: string,
  method: { path: string; requestSerialize: (value: Request) => Buffer; responseDeserialize: (bytes: Buffer) => Response },
  request: Request,
  options: ChannelOptions,
): Promise<{ error: ServiceError | null; response: Response | undefined }> {
  const client = new Client(address, credentials.createInsecure(), options);
  return new Promise((answered) => {
    client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, { deadline: Date.now() + 10_000 }, (error: ServiceError | null, response?: Response) => {
      client.close();
      answered({ error, response });
    });
  });
}

/** One Predict with grpcio (C-core) in its own process; `options` as ccore_call.py takes them (e.g. --service-config FILE). */
async function cCorePredict(target: string, request: PredictRequest, ...options: string[]): Promise<string> {
  const argv = [C_CORE_CALL, target, FraudServiceService.predict.path, Buffer.from(PredictRequest.encode(request).finish()).toString('hex'), ...options];
  const { stdout } = await run(PYTHON, argv, { timeout: 30_000 });
  return (JSON.parse(stdout) as { code: string }).code;
}

/** One Predict with grpc-go in its own process; `options` as gocall takes them (e.g. -service-config FILE). */
async function goPredict(target: string, request: PredictRequest, ...options: string[]): Promise<string> {
  const argv = [...options, target, FraudServiceService.predict.path, Buffer.from(PredictRequest.encode(request).finish()).toString('hex')];
  const { stdout } = await run(GO_CALL, argv, { timeout: 30_000 });
  return (JSON.parse(stdout) as { code: string }).code;
}

describe('busy answers retried by stock gRPC clients (grpc-retry-pushback-ms and the published service config)', function () {
  this.timeout(120_000);
  let running: TestService;
  let relay: RecordingRelay;
  let held: { release(): Promise<void> };

  before(async () => {
    if (!existsSync(PYTHON)) throw new Error(`grpcio is not installed in ${PYTHON}; install it with: bash scripts/install-tools.sh`);
    execFileSync('go', ['build', '-C', join(packageRoot, 'test', 'helpers', 'gocall'), '-o', GO_CALL, '.'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 });
    running = await startTestService(ONE_ROW);
  });

  after(async () => {
    await running.stop();
  });

  beforeEach(async () => {
    held = await holdRow(running);
    relay = await RecordingRelay.start(running.address, { onRefusal: () => held.release() });
  });

  afterEach(async () => {
    await held.release();
    await relay.stop();
  });

  it('should publish the config the typed client uses', () => {
    assert.deepEqual(JSON.parse(SERVICE_CONFIG), fraudServiceConfig());
  });

  it('should have a grpc-js client with the published service config retry a refused Predict after the pushback, and answer it', async () => {
    const retriesBefore = await retriesSeen(running, 'Predict');
    const { error, response } = await stockCall(relay.address, FraudServiceService.predict, predictRequest(1n), { 'grpc.service_config': SERVICE_CONFIG });
    assert.equal(error, null, error?.message);
    assert.equal(response?.transactionId, 1n);
    assert.deepEqual(relay.events, RETRIED_AFTER_PUSHBACK('Predict'));
    assert.equal(await retriesSeen(running, 'Predict'), retriesBefore + 1);
  });

  it('should have a grpc-js client with the published service config retry a refused ReportOutcome after the pushback', async () => {
    const request: ReportOutcomeRequest = { outcome: { transactionId: 2n, outcome: Outcome.OUTCOME_FRAUD, knownAt: undefined, knownAtSeconds: 7200n } };
    const { error, response } = await stockCall(relay.address, FraudServiceService.reportOutcome, request, { 'grpc.service_config': SERVICE_CONFIG });
    assert.equal(error, null, error?.message);
    assert.ok(response?.result !== undefined);
    assert.deepEqual(relay.events, RETRIED_AFTER_PUSHBACK('ReportOutcome'));
  });

  it('should not retry without the service config: one attempt, RESOURCE_EXHAUSTED', async () => {
    const { error } = await stockCall(relay.address, FraudServiceService.predict, predictRequest(3n), {});
    assert.equal(error?.code, status.RESOURCE_EXHAUSTED);
    assert.deepEqual(relay.attempts('Predict'), [undefined]);
  });

  it('should have the typed client (default options) retry a refused Predict after the pushback', async () => {
    const client = new FraudClient({ address: relay.address });
    try {
      assert.equal((await client.predict({ transactionId: 4, customerId: 77, terminalId: 7, txAmount: 42.5, txTimeSeconds: 3600 })).transactionId, 4n);
    } finally {
      client.close();
    }
    assert.deepEqual(relay.events, RETRIED_AFTER_PUSHBACK('Predict'));
  });

  it('should have the typed client with retries turned off (attempts 1) give the busy answer to its caller', async () => {
    const client = new FraudClient({ address: relay.address, retry: { attempts: 1 } });
    try {
      await assert.rejects(client.predict({ transactionId: 5, customerId: 77, terminalId: 7, txAmount: 42.5, txTimeSeconds: 3600 }), (error: unknown) => {
        assert.ok(error instanceof FraudCallError);
        assert.equal(error.code, status.RESOURCE_EXHAUSTED);
        return true;
      });
    } finally {
      client.close();
    }
    assert.deepEqual(relay.attempts('Predict'), [undefined]);
  });

  it('should have the CLI retry a refused predict after the pushback', async () => {
    const answer = await runCli(relay.address, ['predict', '--transaction-id', '6', '--customer-id', '77', '--terminal-id', '7', '--amount', '42.5', '--time-seconds', '3600']);
    assert.equal(answer.code, 0, answer.stderr);
    assert.deepEqual(relay.events, RETRIED_AFTER_PUSHBACK('Predict'));
  });

  it('should have a C-core client (grpcio) with the published service config retry a refused Predict after the pushback', async () => {
    assert.equal(await cCorePredict(relay.address, predictRequest(7n), '--service-config', SERVICE_CONFIG_FILE), 'OK');
    assert.deepEqual(relay.events, RETRIED_AFTER_PUSHBACK('Predict'));
  });

  it('should have a C-core client (grpcio) without the service config make one attempt', async () => {
    assert.equal(await cCorePredict(relay.address, predictRequest(8n)), 'RESOURCE_EXHAUSTED');
    assert.deepEqual(relay.attempts('Predict'), [undefined]);
  });

  it('should have a grpc-go client with the published service config retry a refused Predict after the pushback', async () => {
    assert.equal(await goPredict(relay.address, predictRequest(15n), '-service-config', SERVICE_CONFIG_FILE), 'OK');
    assert.deepEqual(relay.events, RETRIED_AFTER_PUSHBACK('Predict'));
  });

  it('should have a grpc-go client without the service config make one attempt', async () => {
    assert.equal(await goPredict(relay.address, predictRequest(16n)), 'ResourceExhausted');
    assert.deepEqual(relay.attempts('Predict'), [undefined]);
  });

  describe('with the service config published in DNS (TXT)', () => {
    const NAME = 'fraud-scoring.test';
    let dns: DnsServer;

    beforeEach(async () => {
      dns = await DnsServer.start();
      dns.set(NAME, ['127.0.0.1']);
      // grpc-js reads the record of the name itself; C-core and grpc-go that of _grpc_config.<name>.
      const record = `grpc_config=${JSON.stringify([{ serviceConfig: JSON.parse(SERVICE_CONFIG) as unknown }])}`;
      dns.setText(NAME, record);
      dns.setText(`_grpc_config.${NAME}`, record);
    });

    afterEach(() => {
      dns.close();
    });

    const target = (): string => `dns://127.0.0.1:${dns.port}/${NAME}:${relay.address.split(':')[1] ?? ''}`;

    it('should have a grpc-js client with no config of its own retry after the pushback, once it has the record', async () => {
      // grpc-js asks for addresses and the TXT record at once, and calls as soon as it has addresses.
      dns.addressesAfterText = true;
      const request = Buffer.from(PredictRequest.encode(predictRequest(10n)).finish()).toString('hex');
      const { stdout } = await run(process.execPath, [STOCK_PREDICT, target(), request], {
        env: { PATH: process.env.PATH ?? '', GRPC_NODE_USE_ALTERNATIVE_RESOLVER: 'true' },
        timeout: 30_000,
      });
      assert.deepEqual(JSON.parse(stdout), { code: status.OK, details: '' });
      assert.deepEqual(relay.events, RETRIED_AFTER_PUSHBACK('Predict'));
    });

    it('should have a grpc-go client with no config of its own retry after the pushback', async () => {
      assert.equal(await goPredict(target(), predictRequest(17n)), 'OK');
      assert.deepEqual(relay.events, RETRIED_AFTER_PUSHBACK('Predict'));
    });

    it('should have a C-core client (grpcio) that reads it retry after the pushback', async () => {
      assert.equal(await cCorePredict(target(), predictRequest(11n), '--service-config-from-dns'), 'OK');
      assert.deepEqual(relay.events, RETRIED_AFTER_PUSHBACK('Predict'));
    });
  });
});

describe('calls retried after their answer was lost (UNAVAILABLE), by a stock client with the published service config', function () {
  this.timeout(60_000);
  let running: TestService;
  let relay: RecordingRelay;
  const options = { 'grpc.service_config': SERVICE_CONFIG };

  before(async () => {
    running = await startTestService();
  });

  after(async () => {
    await running.stop();
  });

  beforeEach(async () => {
    relay = await RecordingRelay.start(running.address, { loseAnswers: 1 });
  });

  afterEach(async () => {
    await relay.stop();
  });

  it('should answer a retried Predict as the lost answer said: recorded once, the same features and probability', async () => {
    const request = { ...predictRequest(12n), explain: true };
    const { error, response } = await stockCall(relay.address, FraudServiceService.predict, request, options);
    assert.equal(error, null, error?.message);
    assert.deepEqual(relay.attempts('Predict'), [undefined, '1']);
    const lost = PredictResponse.decode(relay.lost[0] ?? Buffer.alloc(0));
    assert.equal(lost.transactionId, 12n);
    assert.deepEqual(response, lost);
    // Recorded once: the next transaction of the card counts one before it.
    const next = await running.client.predict({ transactionId: 13, customerId: 77, terminalId: 7, txAmount: 42.5, txTimeSeconds: 3700 }, { explain: true });
    assert.equal(next.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 2);
  });

  it('should answer a retried ReportOutcome DUPLICATE when the lost answer said APPLIED', async () => {
    await running.client.predict({ transactionId: 14, customerId: 78, terminalId: 8, txAmount: 10, txTimeSeconds: 3600 });
    const request: ReportOutcomeRequest = { outcome: { transactionId: 14n, outcome: Outcome.OUTCOME_FRAUD, knownAt: undefined, knownAtSeconds: 7200n } };
    const { error, response } = await stockCall(relay.address, FraudServiceService.reportOutcome, request, options);
    assert.equal(error, null, error?.message);
    assert.deepEqual(relay.attempts('ReportOutcome'), [undefined, '1']);
    assert.equal(ReportOutcomeResponse.decode(relay.lost[0] ?? Buffer.alloc(0)).result?.status, OutcomeStatus.OUTCOME_STATUS_APPLIED);
    assert.equal(response?.result?.status, OutcomeStatus.OUTCOME_STATUS_DUPLICATE);
  });
});

describe('requests over the size limit are not sent again', function () {
  this.timeout(60_000);

  it('should make one attempt of a request over FRAUD_MAX_MESSAGE_BYTES (4 MiB), larger than any client retry buffer, with the published config', async () => {
    const running = await startTestService();
    const relay = await RecordingRelay.start(running.address);
    try {
      const request = predictRequest(9n);
      const oversize = { ...request, transaction: { ...request.transaction, features: { [`f_${'x'.repeat(4.5 * 1024 * 1024)}`]: 1 } } as Transaction };
      const { error } = await stockCall(relay.address, FraudServiceService.predict, oversize, { 'grpc.service_config': SERVICE_CONFIG });
      assert.ok(error !== null, 'the oversize request was answered');
      assert.equal(error.code, status.RESOURCE_EXHAUSTED);
      assert.match(error.details, /larger than max .*4194304/);
      assert.deepEqual(relay.attempts('Predict'), [undefined]);
    } finally {
      await relay.stop();
      await running.stop();
    }
  });
});

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutcomeStatus } from '../../src/gen/fraud/v1/fraud_service.js';
import { runCli } from '../helpers/cliRun.js';
import { freePort } from '../helpers/spawnService.js';
import { startTestService, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const DAY = 86_400;

describe('fraud-cli outcome, and its answers to unreachable addresses and unknown columns', () => {
  let running: TestService;
  let folder: string;
  /** Scores transaction `id` (its own card) at day `day` of the simulator's clock, so outcomes can name it. */
  const score = async (id: number, day: number): Promise<void> => {
    await running.client.predict({ transactionId: id, customerId: id, terminalId: 9_000 + id, txAmount: 20, txTimeSeconds: day * DAY });
  };

  before(async () => {
    running = await startTestService();
    folder = await mkdtemp(join(tmpdir(), 'fraud-cli-outcome-'));
  });
  after(async () => {
    await running.stop();
    await rm(folder, { recursive: true, force: true });
  });

  it('should report one outcome, then answer duplicate for the same report, exit 0 both times', async () => {
    await score(71, 30);
    const first = await runCli(running.address, ['outcome', '--transaction-id', '71', '--outcome', 'fraud', '--known-at-seconds', String(31 * DAY)]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, 'transaction 71: applied\n');
    assert.equal(first.stderr, '');
    const again = await runCli(running.address, ['outcome', '--transaction-id', '71', '--outcome', 'FRAUD', '--known-at', new Date(Date.UTC(2018, 3, 1) + 32 * DAY * 1000).toISOString()]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^transaction 71: duplicate: .+\n$/);
  });

  it('should exit 1 and say why when the outcome is not recorded (a transaction never scored), with --json the API result', async () => {
    const run = await runCli(running.address, ['outcome', '--transaction-id', '987654', '--outcome', 'legitimate', '--json']);
    assert.equal(run.code, 1, run.stderr);
    const result = JSON.parse(run.stdout) as { transactionId: string; status: string; message: string };
    assert.equal(result.transactionId, '987654');
    assert.equal(result.status, OutcomeStatus[OutcomeStatus.OUTCOME_STATUS_UNKNOWN_TRANSACTION]);
    assert.notEqual(result.message, '');
  });

  it('should report a CSV of outcomes in batches, one line per outcome in order, a summary, and exit 1 when one was not recorded', async () => {
    await score(81, 40);
    await score(82, 40);
    const csv = join(folder, 'outcomes.csv');
    await writeFile(
      csv,
      ['TRANSACTION_ID,OUTCOME,KNOWN_AT_SECONDS', `81,fraud,${41 * DAY}`, `82,legitimate,${41 * DAY}`, `81,fraud,${42 * DAY}`, `82,fraud,${39 * DAY}`, '555555,fraud,'].join('\n'),
    );
    const run = await runCli(running.address, ['outcome', '--input', csv, '--batch-size', '2']);
    assert.equal(run.code, 1, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.deepEqual(
      lines.map((line) => /^transaction (\d+): (\w+)/.exec(line)?.slice(1)),
      [['81', 'applied'], ['82', 'applied'], ['81', 'duplicate'], ['82', 'before_transaction'], ['555555', 'unknown_transaction']],
    );
    assert.match(run.stderr, /^reported 5 outcomes in [\d.]+ s: applied 2, duplicate 1, before_transaction 1, unknown_transaction 1\n$/);
  });

  it('should send corrections from --input with a supersedes column, and exit 1 when one was refused', async () => {
    await score(101, 60);
    const csv = join(folder, 'corrections.csv');
    await writeFile(csv, ['transaction_id,outcome,known_at_seconds,supersedes', `101,fraud,${61 * DAY},`, `101,legitimate,${62 * DAY},true`, `101,fraud,${61 * DAY},1`].join('\n'));
    const run = await runCli(running.address, ['outcome', '--input', csv]);
    assert.equal(run.code, 1, run.stderr);
    assert.deepEqual(
      run.stdout.trim().split('\n').map((line) => /^transaction (\d+): (\w+)/.exec(line)?.slice(1)),
      [['101', 'applied'], ['101', 'corrected'], ['101', 'out_of_order']],
    );
    await writeFile(csv, ['transaction_id,outcome,supersedes', '101,fraud,maybe'].join('\n'));
    const bad = await runCli(running.address, ['outcome', '--input', csv]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /supersedes must be true or false, got "maybe"/);
  });

  it('should read JSON Lines outcomes (REST bodies, enum names) from stdin and exit 0 when all are recorded', async () => {
    await score(91, 50);
    await score(92, 50);
    const body = JSON.stringify({ transaction_id: 91, outcome: 'OUTCOME_FRAUD', known_at: new Date(Date.UTC(2018, 3, 1) + 51 * DAY * 1000).toISOString() });
    // proto3 JSON's lowerCamelCase names are accepted too.
    const camel = JSON.stringify({ transactionId: '92', outcome: 'OUTCOME_LEGITIMATE', knownAtSeconds: String(51 * DAY) });
    const run = await runCli(running.address, ['outcome', '--input', '-', '--format', 'jsonl'], `${body}\n${camel}\n`);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'transaction 91: applied\ntransaction 92: applied\n');
  });

  it('should exit 2 with a usage message for a missing or unknown --outcome, or a bad --known-at', async () => {
    for (const argv of [
      ['outcome', '--transaction-id', '1'],
      ['outcome', '--transaction-id', '1', '--outcome', 'chargeback'],
      ['outcome', '--outcome', 'fraud'],
      ['outcome', '--transaction-id', '1', '--outcome', 'fraud', '--known-at', 'yesterday'],
    ]) {
      const run = await runCli(running.address, argv);
      assert.equal(run.code, 2, argv.join(' '));
      assert.match(run.stderr, /^error: .+\nrun fraud-cli --help for usage\n$/, argv.join(' '));
    }
  });

  it('should refuse a file with unknown columns, naming the expected ones (batch and outcome)', async () => {
    const transactions = join(folder, 'renamed.csv');
    await writeFile(transactions, 'id,customer,terminal_id,amount,tx_time_seconds\n1,2,3,4.5,60\n');
    const batch = await runCli(running.address, ['batch', '--input', transactions]);
    assert.equal(batch.code, 2);
    assert.equal(
      batch.stderr,
      'error: input line 1: unknown columns id, customer, amount; expected transaction_id, customer_id, terminal_id, tx_amount, and tx_time_seconds or tx_datetime; ' +
        'optional tx_time_days, features (JSON Lines), tx_fraud and tx_fraud_scenario (any case)\n',
    );
    assert.equal(batch.stdout, '');
    const outcomes = join(folder, 'renamed-outcomes.csv');
    await writeFile(outcomes, 'transaction_id,label\n1,fraud\n');
    const outcome = await runCli(running.address, ['outcome', '--input', outcomes]);
    assert.equal(outcome.code, 2);
    assert.match(outcome.stderr, /^error: input line 1: unknown columns label; expected transaction_id, outcome \(fraud or legitimate\), optional known_at .* and optional supersedes/);
  });

  it('should say in one line that nothing answers at the address, naming --address and FRAUD_ADDRESS', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    for (const argv of [['health'], ['outcome', '--transaction-id', '1', '--outcome', 'fraud']]) {
      const run = await runCli(address, argv, '', { retry: { attempts: 1 } });
      assert.equal(run.code, 1);
      assert.equal(run.stderr, `error: cannot reach the service at ${address} (connection refused); give its address with --address HOST:PORT or FRAUD_ADDRESS\n`);
    }
    const unresolved = await runCli('no-such-host.invalid:50051', ['models'], '', { retry: { attempts: 1 } });
    assert.equal(unresolved.code, 1);
    assert.match(unresolved.stderr, /^error: cannot reach the service at no-such-host\.invalid:50051 \(name not resolved\); give its address with --address/);
  });

  it('should give the same hint when the deadline passes before a connection is made (a peer that never answers)', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolveListen) => silent.listen(0, '127.0.0.1', resolveListen));
    const address = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const run = await runCli(address, ['health', '--deadline-ms', '300']);
      assert.equal(run.code, 1);
      assert.equal(run.stderr, `error: cannot reach the service at ${address} (no connection before the deadline); give its address with --address HOST:PORT or FRAUD_ADDRESS\n`);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('should keep the service\'s own UNAVAILABLE answer as it is (not a connection problem)', async () => {
    const notServing = await startTestService({ FRAUD_BINARY_MODEL_URI: join(folder, 'none', 'fraud-binary.json'), FRAUD_MODEL_POLL_SECONDS: '0' }, false);
    try {
      await waitFor('the missing model found missing', () => notServing.service.registry.status()[0]?.lastError);
      const run = await runCli(notServing.address, ['predict', '--transaction-id', '1', '--customer-id', '1', '--terminal-id', '1', '--amount', '1', '--time-seconds', '1'], '', {
        retry: { attempts: 1 },
      });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^error: UNAVAILABLE: no binary model is serving: .*does not exist; retry with backoff\n$/);
    } finally {
      await notServing.stop();
    }
  });
});

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliRun } from '../helpers/cliRun.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, type TestService } from '../helpers/testService.js';

/** fraud-cli in-process against `address`. */
function cli(address: string, argv: string[], stdin = ''): Promise<CliRun> {
  return runCli(address, argv, stdin);
}

const TRANSACTION = ['--transaction-id', '3', '--customer-id', '42', '--terminal-id', '7', '--amount', '250', '--time-seconds', '3600'];

describe('fraud-cli', () => {
  let running: TestService;
  let folder: string;
  before(async () => {
    running = await startTestService();
    folder = await mkdtemp(join(tmpdir(), 'fraud-cli-'));
  });
  after(async () => {
    await running.stop();
    await rm(folder, { recursive: true, force: true });
  });

  it('predict should print the label, probabilities and model, human-readable by default', async () => {
    const run = await cli(running.address, ['predict', ...TRANSACTION]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^FRAUD {2}probability \d\.\d{4} \(fraud probability \d\.\d{4} >= threshold 0\.5\)\ntransaction 3 · model fraud-binary /);
  });

  it('predict --explain should print the feature values the model saw', async () => {
    const run = await cli(running.address, ['predict', ...TRANSACTION, '--explain']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /\nfeatures:\n {2}TX_AMOUNT +250\n/);
    const plain = await cli(running.address, ['predict', ...TRANSACTION]);
    assert.doesNotMatch(plain.stdout, /features:/);
  });

  it('predict --json should print the proto3 JSON answer', async () => {
    const run = await cli(running.address, ['predict', ...TRANSACTION, '--json']);
    const answer = JSON.parse(run.stdout) as { prediction: string; transactionId: string };
    assert.equal(answer.prediction, 'FRAUD');
    assert.equal(answer.transactionId, '3');
  });

  it('scenario should classify with the scenario model', async () => {
    const run = await cli(running.address, ['scenario', ...TRANSACTION]);
    assert.equal(run.code, 0, run.stderr);
    // What the service answers for the same transaction (a retry: recorded once, answered the same).
    const answer = await running.client.predictScenario({ transactionId: 3, customerId: 42, terminalId: 7, txAmount: 250, txTimeSeconds: 3600 });
    const probabilities = answer.probabilities.map((probability, index) => `class ${index}: ${probability.toFixed(4)}`).join(', ');
    assert.match(run.stdout, new RegExp(`^${answer.prediction} {2}probability ${answer.classProbability.toFixed(4)} \\(fraud of any scenario ${answer.fraudProbability.toFixed(4)}\\)\n${probabilities}\n`));
  });

  it('should print the field violations and exit 1 when the service refuses the transaction', async () => {
    const run = await cli(running.address, ['predict', ...TRANSACTION.slice(0, 6), '--amount=-4', '--time-seconds', '1']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error: INVALID_ARGUMENT: transaction\.tx_amount: must be >= 0, got -4\n {2}transaction\.tx_amount: must be >= 0, got -4\n$/);
  });

  it('should exit 2 with a usage message on a bad command line', async () => {
    for (const argv of [['predict', '--amount', '5'], ['frobnicate'], ['predict', '--nope'], ['batch', '--input', 'x.txt']]) {
      const run = await cli(running.address, argv);
      assert.equal(run.code, 2, argv.join(' '));
      assert.match(run.stderr, /^error: .+\nrun fraud-cli --help for usage\n$/);
    }
  });

  it('batch should score a CSV in the simulator\'s columns, in order, with a summary', async () => {
    const csv = join(folder, 'transactions.csv');
    const rows = Array.from({ length: 2500 }, (_, index) => `${index},2018-04-01 01:00:00,${index % 50},${index % 70},${index % 10 === 0 ? 300 : 20},${3600 + index},0,0,0`);
    await writeFile(csv, ['TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,TX_TIME_DAYS,TX_FRAUD,TX_FRAUD_SCENARIO', ...rows].join('\n'));
    const run = await cli(running.address, ['batch', '--input', csv, '--batch-size', '1000']);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines.length, 2500);
    assert.deepEqual(lines.slice(0, 2).map((line) => line.split('\t').slice(0, 2)), [['0', 'FRAUD'], ['1', 'simple_transaction']]);
    assert.match(run.stderr, /^scored 2500 transactions in [\d.]+ s \(\d+\/s\): FRAUD 250, simple_transaction 2250; model fraud-binary /);
  });

  it('batch should read JSON Lines from stdin and write JSON Lines', async () => {
    // One card each: the client's call below retries the CLI's transactions, and a retry is scored like the
    // original only when nothing of its card was recorded in between (models/feature-spec.json, history.rules).
    // Ids and cards of their own: the CSV batch above recorded ids 0-2499 (a repeat with other fields is refused).
    const input = [9001, 9002, 9003].map((id) => JSON.stringify({ transaction_id: id, customer_id: id, terminal_id: 1, tx_amount: 250, tx_time_seconds: 10 })).join('\n');
    const run = await cli(running.address, ['batch', '--format', 'jsonl', '--task', 'scenario', '--json'], input);
    assert.equal(run.code, 0, run.stderr);
    const answers = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as { transactionId: string; prediction: string });
    const expected = await running.client.predictScenarioBatch([9001, 9002, 9003].map((id) => ({ transactionId: id, customerId: id, terminalId: 1, txAmount: 250, txTimeSeconds: 10 })));
    assert.deepEqual(
      answers.map((answer) => [answer.transactionId, answer.prediction]),
      expected.predictions.map((prediction) => [String(prediction.transactionId), prediction.prediction]),
    );
    assert.ok(expected.predictions.every((prediction) => prediction.prediction !== 'simple_transaction'), 'a first transaction of 250, ten seconds into a card\'s life, is fraud');
  });

  it('batch should score binary files over one PredictStream, and stop at the first transaction the service refuses with its field', async () => {
    const before = sample(await scrape(running.service.metricsPort), 'fraud_grpc_requests_total{method="fraud.v1.FraudService/PredictStream",code="OK"}') ?? 0;
    const good = [9101, 9102, 9103].map((id) => JSON.stringify({ transaction_id: id, customer_id: id, terminal_id: 1, tx_amount: 20, tx_time_seconds: 10 }));
    const ok = await cli(running.address, ['batch', '--format', 'jsonl'], good.join('\n'));
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(ok.stdout.trim().split('\n').map((line) => line.split('\t')[0]), ['9101', '9102', '9103']);
    assert.equal(sample(await scrape(running.service.metricsPort), 'fraud_grpc_requests_total{method="fraud.v1.FraudService/PredictStream",code="OK"}'), before + 1);

    // 9101 again with another amount: not a retry, refused with ALREADY_EXISTS; the transaction before it was scored.
    const input = [JSON.stringify({ transaction_id: 9104, customer_id: 9104, terminal_id: 1, tx_amount: 20, tx_time_seconds: 10 }), JSON.stringify({ transaction_id: 9101, customer_id: 9101, terminal_id: 1, tx_amount: 21, tx_time_seconds: 10 })];
    const refused = await cli(running.address, ['batch', '--format', 'jsonl', '--batch-size', '1'], input.join('\n'));
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /ALREADY_EXISTS/);
    assert.match(refused.stderr, /tx_amount/);
    assert.equal(refused.stdout.trim().split('\t')[0], '9104');
  });

  it('batch should name the line of a malformed input', async () => {
    const run = await cli(running.address, ['batch', '--format', 'jsonl'], '{"transaction_id": 1, "customer_id": 1, "terminal_id": 1, "tx_amount": 5, "tx_time_seconds": 1}\nnot json\n');
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^error: input line 2: not JSON/);
  });

  it('batch should exit 2 when the input file cannot be read', async () => {
    const run = await cli(running.address, ['batch', '--input', join(folder, 'missing.csv')]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^error: cannot read --input .*missing\.csv \(ENOENT\)\n$/);
  });

  it('models should show both serving versions', async () => {
    const run = await cli(running.address, ['models']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^binary \(Predict\): fraud-binary .+\n {2}source {5}file:\/\//);
    assert.match(run.stdout, /multiclass \(PredictScenario\): fraud-scenario /);
    assert.match(run.stdout, /classes {4}0=simple_transaction, 1=scenario_1, 2=scenario_2, 3=scenario_3/);
  });

  it('health should print SERVING and exit 0', async () => {
    const run = await cli(running.address, ['health', '--service', 'fraud.v1.FraudService', '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { service: 'fraud.v1.FraudService', status: 'SERVING' });
  });
});

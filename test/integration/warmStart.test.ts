import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TransactionInput } from '../../client/fraudClient.js';
import { runCli, type CliRun } from '../helpers/cliRun.js';
import { fixture } from '../helpers/paths.js';
import { startTestService, type TestService } from '../helpers/testService.js';

const DAY = 86_400;

/**
 * A small history in the simulator's CSV columns, in time order: 40 customers
 * at 6 terminals over 20 days; terminal 3 is compromised on days 5 to 9
 * (every transaction there is fraud, TX_FRAUD = 1).
 */
function historyCsv(): string {
  const rows = ['TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,TX_TIME_DAYS,TX_FRAUD,TX_FRAUD_SCENARIO'];
  let id = 0;
  for (let day = 0; day < 20; day++) {
    for (let slot = 0; slot < 60; slot++) {
      const seconds = day * DAY + slot * 1_400 + 17;
      const customer = (slot * 7 + day) % 40;
      const terminal = (slot + day) % 6;
      const fraud = terminal === 3 && day >= 5 && day <= 9 ? 1 : 0;
      const datetime = new Date(Date.UTC(2018, 3, 1) + seconds * 1000).toISOString().replace('T', ' ').slice(0, 19);
      const amount = ((slot * 13 + day * 7) % 90) + 10.5;
      rows.push(`${id},${datetime},${customer},${terminal},${amount},${seconds},${day},${fraud},${fraud * 2}`);
      id++;
    }
  }
  return `${rows.join('\n')}\n`;
}

/** fraud-cli in-process, one attempt per call. */
function cli(address: string, argv: string[]): Promise<CliRun> {
  return runCli(address, argv, '', { retry: { attempts: 1 } });
}

/** A transaction after the loaded history, at the compromised terminal, whose features show what was loaded. */
const PROBE: TransactionInput = { transactionId: 99_999, customerId: 7, terminalId: 3, txAmount: 20, txTimeSeconds: 20 * DAY + 3_600 };

describe('fraud-cli warm-start', () => {
  let folder: string;
  let csv: string;

  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'fraud-warm-'));
    csv = join(folder, 'history.csv');
    await writeFile(csv, historyCsv());
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  async function loaded(env: Record<string, string> = {}): Promise<TestService> {
    return startTestService({ FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'), ...env });
  }

  it('should load transactions and their fraud labels, known after the delay, so later transactions see them', async () => {
    const service = await loaded();
    try {
      const run = await cli(service.address, ['warm-start', '--input', csv, '--batch-size', '100', '--json']);
      assert.equal(run.code, 0, run.stderr);
      const summary = JSON.parse(run.stdout) as { transactions: number; outcomes: Record<string, number>; transactionsPerSecond: number };
      assert.equal(summary.transactions, 1_200);
      assert.deepEqual(summary.outcomes, { applied: 50 });
      const probe = await service.client.predict(PROBE, { explain: true });
      // Day 20: the 7-day window ending the delay before is days 6..12, where terminal 3 was compromised on days 6 to 9.
      assert.equal(probe.features.TERMINAL_ID_NB_TX_7DAY_WINDOW, 70);
      assert.equal(probe.features.TERMINAL_ID_RISK_7DAY_WINDOW, 40 / 70);
      assert.equal(probe.prediction, 'FRAUD');
    } finally {
      await service.stop();
    }
  });

  it('should stop at a bad row with its checkpoint in place, and resume after it is fixed with the same history as one run', async () => {
    const reference = await loaded();
    let expected: Record<string, number>;
    try {
      assert.equal((await cli(reference.address, ['warm-start', '--input', csv, '--batch-size', '100'])).code, 0);
      expected = (await reference.client.predict(PROBE, { explain: true })).features;
    } finally {
      await reference.stop();
    }

    const lines = historyCsv().split('\n');
    const bad = lines.slice();
    // Data row 410 (line 411) moved two days back: later than its customer's lateness allows.
    const cells = (bad[411] as string).split(',');
    cells[5] = String(Number(cells[5]) - 2 * DAY);
    cells[1] = new Date(Date.UTC(2018, 3, 1) + Number(cells[5]) * 1000).toISOString().replace('T', ' ').slice(0, 19);
    cells[6] = String(Math.floor(Number(cells[5]) / DAY));
    bad[411] = cells.join(',');
    const input = join(folder, 'fixable.csv');
    const checkpoint = join(folder, 'fixable.checkpoint');
    await writeFile(input, bad.join('\n'));
    const service = await loaded();
    try {
      const stopped = await cli(service.address, ['warm-start', '--input', input, '--batch-size', '100', '--checkpoint', checkpoint]);
      assert.equal(stopped.code, 1);
      assert.match(stopped.stderr, /transactions\[10\]\.tx_datetime: .*older than the lateness allows.*customer 36/);
      assert.equal((JSON.parse(await readFile(checkpoint, 'utf8')) as { rows: number }).rows, 400);

      await writeFile(input, lines.join('\n'));
      const run = await cli(service.address, ['warm-start', '--input', input, '--batch-size', '100', '--checkpoint', checkpoint, '--json']);
      assert.equal(run.code, 0, run.stderr);
      const summary = JSON.parse(run.stdout) as { transactions: number; resumedFrom: number };
      assert.equal(summary.resumedFrom, 400);
      assert.equal(summary.transactions, 800, 'the rows loaded before the stop are not sent again');
      assert.equal((JSON.parse(await readFile(checkpoint, 'utf8')) as { rows: number }).rows, 1_200);
      assert.deepEqual((await service.client.predict(PROBE, { explain: true })).features, expected);
    } finally {
      await service.stop();
    }
  });

  it('should refuse a checkpoint of another input, and a missing --input, with exit code 2', async () => {
    const checkpoint = join(folder, 'foreign.checkpoint');
    await writeFile(checkpoint, JSON.stringify({ input: '/elsewhere.csv', rows: 3, updatedAt: '' }));
    const foreign = await cli('127.0.0.1:1', ['warm-start', '--input', csv, '--checkpoint', checkpoint]);
    assert.equal(foreign.code, 2);
    assert.match(foreign.stderr, /checkpoint .* belongs to another input/);
    const missing = await cli('127.0.0.1:1', ['warm-start']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /warm-start needs --input PATH/);
  });
});

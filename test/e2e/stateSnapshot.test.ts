import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FraudClient, type TransactionInput } from '../../client/fraudClient.js';
import { OutcomeStatus } from '../../src/gen/fraud/v1/fraud_service.js';
import { fixture } from '../helpers/paths.js';
import { sample, scrape } from '../helpers/scrape.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { waitFor } from '../helpers/waitFor.js';

const DAY = 86_400;

function at(id: number, customerId: number, terminalId: number, day: number, second = 36_000): TransactionInput {
  return { transactionId: id, customerId, terminalId, txAmount: 40, txTimeSeconds: day * DAY + second };
}

/** The service process with the embedded store snapshotting to `path`. */
async function start(path: string, env: Record<string, string> = {}): Promise<{ service: SpawnedService; client: FraudClient }> {
  const service = await spawnService({ FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'), FRAUD_STATE_SNAPSHOT_PATH: path, ...env });
  await service.waitForLog('serving');
  return { service, client: new FraudClient({ address: service.address, retry: { attempts: 1 } }) };
}

describe('the embedded store across restarts (snapshots)', () => {
  const folder = mkdtempSync(join(tmpdir(), 'fraud-state-'));

  it('should restore on start what the last process recorded before SIGTERM: windows, outcomes, duplicates', async () => {
    const path = join(folder, 'sigterm.bin');
    const first = await start(path);
    try {
      await first.client.predictBatch([at(1, 100, 200, 10), at(2, 100, 200, 10, 40_000), at(3, 101, 200, 10)]);
      assert.equal((await first.client.reportOutcome({ transactionId: 3, outcome: 'fraud', knownAtSeconds: 12 * DAY })).status, OutcomeStatus.OUTCOME_STATUS_APPLIED);
    } finally {
      first.client.close();
      assert.equal(await first.service.kill('SIGTERM'), 0);
    }
    const second = await start(path);
    try {
      const restored = await second.service.waitForLog('state snapshot restored');
      assert.equal(restored.customers, 2);
      assert.equal(restored.terminals, 1);
      assert.equal(restored.transactions, 3);
      const retry = await second.client.predict(at(2, 100, 200, 10, 40_000), { explain: true });
      assert.equal(retry.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 2, 'a retry after the restart still counts once');
      const later = await second.client.predict(at(4, 102, 200, 18), { explain: true });
      assert.equal(later.features.TERMINAL_ID_NB_TX_1DAY_WINDOW, 3);
      assert.equal(later.features.TERMINAL_ID_RISK_1DAY_WINDOW, 1 / 3);
      const again = await second.client.reportOutcome({ transactionId: 3, outcome: 'fraud', knownAtSeconds: 12 * DAY });
      assert.equal(again.status, OutcomeStatus.OUTCOME_STATUS_DUPLICATE, 'outcomes survive the restart');
    } finally {
      second.client.close();
      assert.equal(await second.service.kill('SIGTERM'), 0);
    }
  });

  it('should keep what the interval snapshot saved when the process is killed', async () => {
    const path = join(folder, 'sigkill.bin');
    const first = await start(path, { FRAUD_STATE_SNAPSHOT_SECONDS: '0.2' });
    try {
      await first.client.predict(at(10, 110, 210, 20));
      // The snapshot after the call holds it once a later snapshot has completed.
      const before = sample(await scrape(first.service.metricsPort), 'fraud_state_snapshots_total{result="ok"}') ?? 0;
      await waitFor('two more snapshots', async () => (sample(await scrape(first.service.metricsPort), 'fraud_state_snapshots_total{result="ok"}') ?? 0) >= before + 2);
    } finally {
      first.client.close();
      await first.service.kill('SIGKILL');
    }
    const second = await start(path);
    try {
      const next = await second.client.predict(at(11, 110, 210, 20, 40_000), { explain: true });
      assert.equal(next.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 2);
    } finally {
      second.client.close();
      await second.service.kill('SIGTERM');
    }
  });

  it('should keep aside, never overwrite, a snapshot cut by one byte, start empty and say so loudly; and remove what a killed write left', async () => {
    const path = join(folder, 'truncated.bin');
    const first = await start(path);
    try {
      await first.client.predict(at(20, 120, 220, 30));
    } finally {
      first.client.close();
      await first.service.kill('SIGTERM');
    }
    const cut = readFileSync(path).subarray(0, readFileSync(path).length - 1);
    writeFileSync(path, cut);
    // What a write killed half-way leaves: a temporary file beside the snapshot.
    const leftover = `${path}.tmp-1-0a1b2c3d4e5f`;
    writeFileSync(leftover, Buffer.alloc(4_096, 7));
    const second = await start(path, { FRAUD_STATE_SNAPSHOT_SECONDS: '0.2' });
    try {
      const error = await second.service.waitForLog('state snapshot unreadable: kept aside, starting with an EMPTY history (history lost)');
      assert.equal(error.level, 'error');
      assert.match(String(error.error), /checksum/);
      const keptAs = String(error.keptAs);
      assert.ok(keptAs.startsWith(`${path}.unreadable-`), keptAs);
      await second.service.waitForLog('removed the temporary file of a snapshot write that never finished');
      assert.equal(existsSync(leftover), false, 'the unfinished write is removed');
      const text = await scrape(second.service.metricsPort);
      assert.equal(sample(text, 'fraud_state_snapshot_restores_total{result="unreadable"}'), 1);
      assert.equal(sample(text, 'fraud_state_snapshot_unreadable'), 1);
      const next = await second.client.predict(at(21, 120, 220, 30, 40_000), { explain: true });
      assert.equal(next.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 1, 'the history started empty');
      // Later snapshots write the new history to the path, never over the file kept aside.
      await waitFor('two snapshots', async () => (sample(await scrape(second.service.metricsPort), 'fraud_state_snapshots_total{result="ok"}') ?? 0) >= 2);
      assert.deepEqual(readFileSync(keptAs), cut);
      assert.deepEqual(readdirSync(folder).filter((name) => name.startsWith('truncated.bin.unreadable-')).length, 1);
    } finally {
      second.client.close();
      await second.service.kill('SIGTERM');
    }
  });
});

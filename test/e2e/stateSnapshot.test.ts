import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FraudClient, type TransactionInput } from '../../client/fraudClient.js';
import { OutcomeStatus, type GetModelQualityResponse } from '../../src/gen/fraud/v1/fraud_service.js';
import { loadFeatureSpec } from '../../src/features/featureSpec.js';
import { fixture } from '../helpers/paths.js';
import { sample, scrape } from '../helpers/scrape.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { waitFor } from '../helpers/waitFor.js';
import { watchHealth } from '../helpers/serviceObservers.js';

const DAY = 86_400;
/** Live quality's windows read: the last 7 and 30 event days. */
const WINDOWS = [7, 30].map((days) => ({ seconds: BigInt(days * DAY), nanos: 0 }));

function at(id: number, customerId: number, terminalId: number, day: number, second = 36_000): TransactionInput {
  return { transactionId: id, customerId, terminalId, txAmount: 40, txTimeSeconds: day * DAY + second };
}

/** Scores counted per window (each transaction once under the outcome in force), from a GetModelQuality answer. */
function scored(answer: GetModelQualityResponse): bigint[] {
  return answer.models.map((quality) => quality.fraudAlerted + quality.fraudPassed + quality.legitimateAlerted + quality.legitimatePassed);
}

/** The service process with the embedded store snapshotting to `path`. */
async function start(path: string, env: Record<string, string> = {}): Promise<{ service: SpawnedService; client: FraudClient }> {
  const service = await spawnService({ FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'), FRAUD_STATE_SNAPSHOT_PATH: path, ...env });
  await service.waitForLog('serving');
  return { service, client: new FraudClient({ address: service.address, retry: { attempts: 1 } }) };
}

describe('the embedded store across restarts (snapshots)', () => {
  const folder = mkdtempSync(join(tmpdir(), 'fraud-state-'));

  it('should restore on start what the last process recorded before SIGTERM: windows, outcomes and their corrections, duplicates', async () => {
    const path = join(folder, 'sigterm.bin');
    const first = await start(path);
    try {
      await first.client.predictBatch([at(1, 100, 200, 10), at(2, 100, 200, 10, 40_000), at(3, 101, 200, 10)]);
      assert.equal((await first.client.reportOutcome({ transactionId: 3, outcome: 'fraud', knownAtSeconds: 12 * DAY })).status, OutcomeStatus.OUTCOME_STATUS_APPLIED);
      // Corrections: 1 becomes fraud from day 18 at 36,000 s, 3 legitimate one second later.
      const corrections = await first.client.reportOutcomes([
        { transactionId: 1, outcome: 'legitimate', knownAtSeconds: 12 * DAY },
        { transactionId: 1, outcome: 'fraud', knownAtSeconds: 18 * DAY + 36_000, supersedes: true },
        { transactionId: 3, outcome: 'legitimate', knownAtSeconds: 18 * DAY + 36_001, supersedes: true },
      ]);
      assert.deepEqual(
        corrections.map((result) => result.status),
        [OutcomeStatus.OUTCOME_STATUS_APPLIED, OutcomeStatus.OUTCOME_STATUS_CORRECTED, OutcomeStatus.OUTCOME_STATUS_CORRECTED],
      );
    } finally {
      first.client.close();
      assert.equal(await first.service.kill('SIGTERM'), 0);
    }
    const second = await start(path);
    try {
      const restored = await second.service.waitForLog('state snapshot restored');
      const text = await scrape(second.service.metricsPort);
      assert.equal(sample(text, 'fraud_state_snapshot_restores_total{result="restored"}'), 1, 'the shutdown snapshot holds everything');
      assert.equal(sample(text, 'fraud_state_snapshot_restores_total{result="restored_partial"}'), undefined);
      assert.equal(restored.customers, 2);
      assert.equal(restored.terminals, 1);
      assert.equal(restored.transactions, 3);
      const retry = await second.client.predict(at(2, 100, 200, 10, 40_000), { explain: true });
      assert.equal(retry.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 2, 'a retry after the restart still counts once');
      // At 36,000 s both 1 (corrected) and 3 (not yet corrected) count; a second later only 1.
      const later = await second.client.predict(at(4, 102, 200, 18), { explain: true });
      assert.equal(later.features.TERMINAL_ID_NB_TX_1DAY_WINDOW, 3);
      assert.equal(later.features.TERMINAL_ID_RISK_1DAY_WINDOW, 2 / 3);
      const second1 = await second.client.predict(at(5, 103, 200, 18, 36_001), { explain: true });
      assert.equal(second1.features.TERMINAL_ID_RISK_1DAY_WINDOW, 1 / 3);
      const again = await second.client.reportOutcome({ transactionId: 3, outcome: 'legitimate', knownAtSeconds: 19 * DAY, supersedes: true });
      assert.equal(again.status, OutcomeStatus.OUTCOME_STATUS_DUPLICATE, 'outcomes and corrections survive the restart');
    } finally {
      second.client.close();
      assert.equal(await second.service.kill('SIGTERM'), 0);
    }
  });

  it('should answer after a restart exactly the live quality it answered before SIGTERM (counts, bins, delays, a correction), and add to it', async () => {
    const path = join(folder, 'quality.bin');
    const first = await start(path, { FRAUD_STATE_STORE: 'memory' });
    let before: GetModelQualityResponse;
    try {
      await first.client.predictBatch([at(41, 141, 241, 10), at(42, 142, 241, 10, 50_000), at(43, 143, 242, 11), at(44, 144, 242, 12, 1_234)]);
      // Scores are kept after the answer, off the call's path: outcomes join them once they are.
      await waitFor('the scores kept', async () => sample(await scrape(first.service.metricsPort), 'fraud_quality_scores_pending') === 0);
      const results = await first.client.reportOutcomes([
        { transactionId: 41, outcome: 'fraud', knownAtSeconds: 10 * DAY + 40_000 },
        { transactionId: 42, outcome: 'fraud', knownAtSeconds: 12 * DAY + 7 },
        { transactionId: 43, outcome: 'legitimate', knownAtSeconds: 13 * DAY },
        { transactionId: 44, outcome: 'legitimate', knownAtSeconds: 12 * DAY + 13_599 },
        // A correction: 42 was legitimate after all.
        { transactionId: 42, outcome: 'legitimate', knownAtSeconds: 14 * DAY + 3, supersedes: true },
      ]);
      assert.deepEqual(
        results.map((result) => result.status),
        [...Array<OutcomeStatus>(4).fill(OutcomeStatus.OUTCOME_STATUS_APPLIED), OutcomeStatus.OUTCOME_STATUS_CORRECTED],
      );
      before = await first.client.getModelQuality({ windows: WINDOWS });
      assert.equal(before.models.length, 2, 'the serving binary revision, over 7 and 30 days');
      assert.deepEqual(scored(before), [4n, 4n]);
    } finally {
      first.client.close();
      assert.equal(await first.service.kill('SIGTERM'), 0);
    }
    const second = await start(path, { FRAUD_STATE_STORE: 'memory' });
    try {
      const restored = await second.service.waitForLog('live quality restored from the state snapshot');
      assert.deepEqual([restored.revisions, restored.days], [1, 3]);
      const text = await scrape(second.service.metricsPort);
      assert.equal(sample(text, 'fraud_state_snapshot_quality_restores_total{result="restored"}'), 1);
      assert.equal(sample(text, 'fraud_state_snapshot_quality_unreadable'), 0);
      const after = await second.client.getModelQuality({ windows: WINDOWS });
      assert.deepEqual(after, before, 'every count, bin and delay as before the restart');
      // Outcomes the restored history holds are duplicates, counted nowhere; a new one adds to the restored figures.
      const again = await second.client.reportOutcomes([{ transactionId: 41, outcome: 'fraud', knownAtSeconds: 10 * DAY + 40_000 }]);
      assert.equal(again[0]?.status, OutcomeStatus.OUTCOME_STATUS_DUPLICATE);
      await second.client.predict(at(45, 145, 243, 12, 2_000));
      await waitFor('the scores kept', async () => sample(await scrape(second.service.metricsPort), 'fraud_quality_scores_pending') === 0);
      assert.equal((await second.client.reportOutcome({ transactionId: 45, outcome: 'fraud', knownAtSeconds: 13 * DAY })).status, OutcomeStatus.OUTCOME_STATUS_APPLIED);
      const added = await second.client.getModelQuality({ windows: WINDOWS });
      const frauds = (answer: GetModelQualityResponse): bigint[] => answer.models.map((quality) => quality.fraudAlerted + quality.fraudPassed);
      const legitimates = (answer: GetModelQualityResponse): bigint[] => answer.models.map((quality) => quality.legitimateAlerted + quality.legitimatePassed);
      assert.deepEqual(frauds(added), frauds(before).map((count) => count + 1n));
      assert.deepEqual(legitimates(added), legitimates(before));
      const binTotal = (answer: GetModelQualityResponse): bigint => answer.models[0]?.fraudScoreBins.reduce((sum, count) => sum + count, 0n) ?? 0n;
      assert.equal(binTotal(added), binTotal(before) + 1n);
    } finally {
      second.client.close();
      assert.equal(await second.service.kill('SIGTERM'), 0);
    }
  });

  it('should count each outcome once after a kill: live quality restored from the same moment as the history, outcomes reported again after it count only where the history lacks them', async () => {
    const path = join(folder, 'quality-kill.bin');
    const first = await start(path, { FRAUD_STATE_SNAPSHOT_SECONDS: '0.1' });
    const ids = Array.from({ length: 60 }, (_, index) => 50 + index);
    const outcomes = ids.map((id) => ({ transactionId: id, outcome: id % 4 === 0 ? ('fraud' as const) : ('legitimate' as const), knownAtSeconds: 21 * DAY + id }));
    try {
      await first.client.predictBatch(ids.map((id) => at(id, 1_000 + id, 300 + (id % 3), 20, id * 60)));
      await waitFor('the scores kept', async () => sample(await scrape(first.service.metricsPort), 'fraud_quality_scores_pending') === 0);
      // A snapshot that holds the transactions with their scores: what it lacks then is outcomes only.
      const kept = sample(await scrape(first.service.metricsPort), 'fraud_state_snapshots_total{result="ok"}') ?? 0;
      await waitFor('two more snapshots', async () => (sample(await scrape(first.service.metricsPort), 'fraud_state_snapshots_total{result="ok"}') ?? 0) >= kept + 2);
      // Outcomes a few at a time while snapshots are written every 0.1 s; the kill comes after the last, unannounced.
      for (let index = 0; index < outcomes.length; index += 3) await first.client.reportOutcomes(outcomes.slice(index, index + 3));
      await first.client.reportOutcomes([{ transactionId: 52, outcome: 'legitimate', knownAtSeconds: 22 * DAY, supersedes: true }]);
    } finally {
      first.client.close();
      await first.service.kill('SIGKILL');
    }
    const second = await start(path);
    try {
      await second.service.waitForLog('state snapshot restored');
      const restoredQuality = scored(await second.client.getModelQuality({ windows: WINDOWS }));
      const again = await second.client.reportOutcomes(outcomes);
      // What the restored history holds answers DUPLICATE (or CONFLICT: 52 if its correction was saved); live quality restored exactly those.
      const inHistory = again.filter((result) => result.status !== OutcomeStatus.OUTCOME_STATUS_APPLIED).length;
      // (Where the kill falls is the scheduler's: none of them, some or all, each run differs.)
      assert.deepEqual(restoredQuality, inHistory === 0 ? [] : [BigInt(inHistory), BigInt(inHistory)]);
      assert.deepEqual(scored(await second.client.getModelQuality({ windows: WINDOWS })), [BigInt(outcomes.length), BigInt(outcomes.length)], 'every outcome once');
    } finally {
      second.client.close();
      await second.service.kill('SIGTERM');
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
      // The file is an interval snapshot: what the killed process recorded after it is lost, and that is said.
      const partial = await second.service.waitForLog('state snapshot restored from before an unclean stop: what the previous process recorded after writtenAt is lost (retries of it count again)');
      assert.equal(partial.level, 'error');
      const text = await scrape(second.service.metricsPort);
      assert.equal(sample(text, 'fraud_state_snapshot_restores_total{result="restored_partial"}'), 1);
      assert.equal(sample(text, 'fraud_state_snapshot_restores_total{result="restored"}'), undefined);
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
  it('should report the history incomplete after an unreadable snapshot: health /history NOT_SERVING until a retention of event time has passed, or the kept-aside file is removed', async () => {
    const path = join(folder, 'lost.bin');
    writeFileSync(path, Buffer.from('not a snapshot'));
    const env = { FRAUD_STATE_SNAPSHOT_SECONDS: '0.2', FRAUD_STATE_LATENESS_SECONDS: '3600' };
    const { service, client } = await start(path, env);
    const history = watchHealth(service.address, 'fraud.v1.FraudService/history');
    try {
      await service.waitForLog('state snapshot unreadable: kept aside, starting with an EMPTY history (history lost)');
      await waitFor('the first status', () => history.statuses.length > 0);
      assert.equal(history.statuses[0], 'NOT_SERVING');
      assert.equal(sample(await scrape(service.metricsPort), 'fraud_state_history_incomplete{store="memory"}'), 1);
      // The windows reach back 30 days plus the 7-day delay and the lateness: one second short of it, still incomplete.
      await client.predict(at(30, 130, 230, 40));
      const logged = await service.waitForLog('history known incomplete until this event time (Unix seconds), or until the kept-aside snapshot is removed');
      // Logged in Unix seconds; tx_time_seconds counts from the feature spec's epoch.
      const until = Number(logged.incompleteUntil) - loadFeatureSpec().epochSeconds;
      assert.equal(until - (40 * DAY + 36_000), 38 * DAY + 3_600, 'the first transaction after the loss plus the retention');
      // One second short of it, a transaction changes nothing: some window still reaches back into the loss.
      await client.predict({ ...at(31, 131, 231, 40), txTimeSeconds: until - 1 });
      await waitFor('two more snapshot intervals', async () => (sample(await scrape(service.metricsPort), 'fraud_state_snapshots_total{result="ok"}') ?? 0) >= 3);
      assert.deepEqual(history.statuses, ['NOT_SERVING'], 'one second short of the retention');
      await client.predict({ ...at(32, 132, 232, 40), txTimeSeconds: until });
      await waitFor('history SERVING once no window reaches back into the loss', () => history.statuses.at(-1) === 'SERVING');
      assert.equal(sample(await scrape(service.metricsPort), 'fraud_state_history_incomplete{store="memory"}'), 0);
    } finally {
      history.stop();
      client.close();
      await service.kill('SIGTERM');
    }
    // A restart with the file still kept aside: incomplete again, until an operator removes it (the acknowledgement).
    const { service: again, client: againClient } = await start(path, env);
    const watch = watchHealth(again.address, 'fraud.v1.FraudService/history');
    try {
      await waitFor('the first status', () => watch.statuses.length > 0);
      assert.equal(watch.statuses[0], 'NOT_SERVING', 'the kept-aside file still says the history is incomplete');
      for (const name of readdirSync(folder).filter((file) => file.startsWith('lost.bin.unreadable-'))) rmSync(join(folder, name));
      await waitFor('history SERVING once the loss is acknowledged', () => watch.statuses.at(-1) === 'SERVING');
    } finally {
      watch.stop();
      againClient.close();
      await again.kill('SIGTERM');
    }
  });
});

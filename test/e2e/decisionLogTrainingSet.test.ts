import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FraudClient } from '../../client/fraudClient.js';
import { feed, simulatedReplay, trainingRun } from '../helpers/replay.js';
import { startTestService } from '../helpers/testService.js';

const DAY = 86_400;
const LABEL_DELAY_DAYS = 7;

/** What `training/run skew-check` prints (fraud_training/skew.py). */
interface SkewReport {
  readonly transactions: number;
  readonly frauds: number;
  readonly features: number;
  readonly label_differences: number;
  readonly features_exactly_equal: number;
  readonly max_feature_difference: number;
  readonly max_relative_feature_difference: number;
  readonly max_probability_difference: number;
  readonly predictions_differ: number;
}

/** The training-set CSV: per transaction id, its features by name (it holds plain numbers and ids, no quoting). */
function parseTrainingSet(text: string): Map<number, Record<string, number>> {
  const [header, ...lines] = text.trim().split('\n');
  const columns = (header ?? '').split(',');
  const first = columns.indexOf('MODEL_VERSION') + 1;
  const last = columns.indexOf('TX_FRAUD');
  const rows = new Map<number, Record<string, number>>();
  for (const line of lines) {
    const cells = line.split(',');
    const features: Record<string, number> = {};
    for (let i = first; i < last; i++) features[columns[i] as string] = Number(cells[i]);
    rows.set(Number(cells[0]), features);
  }
  return rows;
}

describe('decision log to training set: no training/serving skew', () => {
  const folders: string[] = [];
  after(async () => {
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
  });

  it('should build, from the logged decisions and the outcomes, the offline pipeline\'s training set for the settled transactions, and train the same model', async function () {
    this.timeout(300_000);
    const root = await mkdtemp(join(tmpdir(), 'fraud-log-training-'));
    folders.push(root);
    const replayDir = join(root, 'replay');
    const logDir = join(root, 'log');
    // A small period, a seed no other test or model uses, 3 % of its outcomes corrected later (supersedes).
    const replay = await simulatedReplay(replayDir, ['--seed', '71', '--customers', '250', '--terminals', '500', '--days', '30', '--outcome-delay-days', String(LABEL_DELAY_DAYS), '--corrections', '0.03']);

    const service = await startTestService({ FRAUD_STATE_STORE: 'memory', FRAUD_MAX_BATCH_SIZE: '10000', FRAUD_DECISION_LOG_DIR: logDir });
    const client = new FraudClient({ address: service.address, deadlineMs: 120_000, retry: { attempts: 1 } });
    let seen: Map<number, Record<string, number>>;
    try {
      seen = await feed(client, replay.events);
    } finally {
      client.close();
      // Shutdown writes what is buffered and finishes the open file.
      await service.stop();
    }
    assert.ok((await readdir(logDir)).some((name) => name.endsWith('.jsonl.gz')));

    const outcomes = replay.events.flatMap((event) => (event.outcome === undefined ? [] : [event.outcome]));
    await writeFile(join(root, 'outcomes.jsonl'), outcomes.map((outcome) => JSON.stringify(outcome)).join('\n') + '\n');
    const asOf = Math.max(...outcomes.map((outcome) => outcome.known_at_seconds));
    const settled = replay.events.filter((event) => event.transaction !== undefined && event.transaction.tx_time_seconds <= asOf - LABEL_DELAY_DAYS * DAY).length;
    const corrected = new Set(outcomes.filter((outcome) => outcome.supersedes === true).map((outcome) => outcome.transaction_id));
    assert.ok(corrected.size > 0, 'the period holds corrections');

    const setPath = join(root, 'training-set.csv');
    const summary = await trainingRun(['training-set', logDir, '--outcomes', join(root, 'outcomes.jsonl'), '--model', 'fraud-binary', '--label-delay-days', String(LABEL_DELAY_DAYS), '--out', setPath]);
    assert.match(summary, new RegExp(`: ${settled.toLocaleString('en-US')} transactions .*; 0 of those without an outcome left out`));

    // The logged features are the served ones, bit for bit.
    const logged = parseTrainingSet(await readFile(setPath, 'utf8'));
    assert.equal(logged.size, settled);
    const differing = [...logged].filter(([id, features]) => {
      const served = seen.get(id);
      return served === undefined || Object.keys(served).length !== Object.keys(features).length || Object.entries(features).some(([name, value]) => !Object.is(served[name], value));
    });
    assert.deepEqual(differing.slice(0, 3), []);

    const report = JSON.parse(await trainingRun(['skew-check', setPath, '--replay', replayDir])) as SkewReport;
    console.log(`      ${report.transactions} settled transactions (${report.frauds} fraud) of ${replay.features.size}, ${report.features} features; max |logged - offline| ${report.max_feature_difference} (relative ${report.max_relative_feature_difference}), ${report.features_exactly_equal} of ${report.transactions * report.features} values exactly equal; max |p logged - p offline| ${report.max_probability_difference}`);
    assert.equal(report.transactions, settled);
    assert.ok(report.frauds > 0, 'the period holds frauds');
    assert.equal(report.label_differences, 0);
    // Sums and averages of amounts are added up in another order online: equal to 1e-12 relative (1e-12 absolute below 1).
    assert.ok(report.max_relative_feature_difference <= 1e-12, `features differ by up to ${report.max_relative_feature_difference} (relative)`);
    assert.equal(report.max_probability_difference, 0);
    assert.equal(report.predictions_differ, 0);
  });
});

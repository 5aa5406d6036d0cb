import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TransactionInput } from '../../client/fraudClient.js';
import { ANSWER_TOLERANCE, readAnswers, readModel } from '../helpers/modelFixtures.js';
import { FIXTURES } from '../helpers/paths.js';
import { startTestService } from '../helpers/testService.js';

const FIXTURE = 'binary-zipmap-f32';

/** A copy of the fixture model in `dir` whose manifest has `threshold`; returns the manifest's path. */
function withThreshold(dir: string, name: string, threshold: number): string {
  const { manifest } = readModel(FIXTURE);
  copyFileSync(join(FIXTURES, manifest.model_file), join(dir, manifest.model_file));
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ ...manifest, threshold }));
  return path;
}

/**
 * docs/models.md promises fraud when the fraud probability is at least the
 * threshold (`>=`): a transaction whose probability equals the threshold
 * exactly is FRAUD, and one just below it is not.
 */
describe('the binary threshold at its boundary, over a real socket', () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fraud-threshold-'));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** A transaction the fixture gives a fraud probability strictly between 0 and 1, and that probability. */
  function boundaryCase(): { input: TransactionInput; probability: number } {
    const entry = readAnswers(FIXTURE).cases.find(({ answer }) => answer.fraud_probability > 0 && answer.fraud_probability < 1);
    assert.ok(entry, `${FIXTURE} has no transaction with a fraud probability strictly between 0 and 1`);
    const { transaction_id, customer_id, terminal_id, tx_amount, tx_time_seconds } = entry.transaction;
    return {
      input: { transactionId: transaction_id, customerId: customer_id, terminalId: terminal_id, txAmount: tx_amount, txTimeSeconds: tx_time_seconds },
      probability: entry.answer.fraud_probability,
    };
  }

  async function predictWith(threshold: number, input: TransactionInput) {
    const running = await startTestService({ FRAUD_BINARY_MODEL_URI: withThreshold(dir, `t-${threshold}`, threshold), FRAUD_MODEL_POLL_SECONDS: '0' });
    try {
      return await running.client.predict(input);
    } finally {
      await running.stop();
    }
  }

  /**
   * The probability the service computes for the boundary transaction, within
   * the tolerance of Python onnxruntime's (computed where the fixtures were
   * built: another CPU may differ in the last bits), so the boundary tests
   * below use this machine's exact value.
   */
  async function servedProbability(): Promise<{ input: TransactionInput; probability: number }> {
    const { input, probability } = boundaryCase();
    const answer = await predictWith(0.5, input);
    assert.ok(Math.abs(answer.fraudProbability - probability) <= ANSWER_TOLERANCE, `the service gives ${answer.fraudProbability}, Python onnxruntime ${probability}`);
    return { input, probability: answer.fraudProbability };
  }

  it('should call a transaction FRAUD when its fraud probability equals the threshold', async () => {
    const { input, probability } = await servedProbability();
    const answer = await predictWith(probability, input);
    assert.equal(answer.fraudProbability, probability);
    assert.equal(answer.threshold, probability);
    assert.equal(answer.classId, 1);
    assert.equal(answer.prediction, readAnswers(FIXTURE).service_classes.find((entry) => entry.id === 1)?.label);
  });

  it('should call it legitimate when the threshold is the next number above its fraud probability', async () => {
    const { input, probability } = await servedProbability();
    // The smallest double above the probability.
    const above = probability + Number.EPSILON * probability;
    assert.ok(above > probability);
    const answer = await predictWith(above, input);
    assert.equal(answer.fraudProbability, probability);
    assert.equal(answer.classId, 0);
  });
});

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TransactionInput } from '../../client/fraudClient.js';
import { readAnswers, readModel, type AnswerCase, type ExpectedAnswer } from '../helpers/modelFixtures.js';
import { FIXTURES, fixture } from '../helpers/paths.js';
import { startTestService, type TestService } from '../helpers/testService.js';

/** The fields of an answer that depend on the model and its class order. */
interface Answer {
  readonly prediction: string;
  readonly classId: number;
  readonly classProbability: number;
  readonly fraudProbability: number;
  readonly probabilities: readonly number[];
}

function expected(answer: ExpectedAnswer): Answer {
  return {
    prediction: answer.prediction,
    classId: answer.class_id,
    classProbability: answer.class_probability,
    fraudProbability: answer.fraud_probability,
    probabilities: answer.probabilities,
  };
}

function received(answer: Answer): Answer {
  const { prediction, classId, classProbability, fraudProbability, probabilities } = answer;
  return { prediction, classId, classProbability, fraudProbability, probabilities };
}

function input(entry: AnswerCase): TransactionInput {
  const { transaction_id, customer_id, terminal_id, tx_amount, tx_time_seconds } = entry.transaction;
  return { transactionId: transaction_id, customerId: customer_id, terminalId: terminal_id, txAmount: tx_amount, txTimeSeconds: tx_time_seconds };
}

const MODEL_VARIABLE = { binary: 'FRAUD_BINARY_MODEL_URI', multiclass: 'FRAUD_SCENARIO_MODEL_URI' } as const;

const answerFiles = readdirSync(join(FIXTURES, 'answers'))
  .filter((file) => file.endsWith('.json'))
  .map((file) => file.slice(0, -'.json'.length))
  .sort();

describe('answers of every fixture model over a real socket, equal to Python onnxruntime', () => {
  it('should have an answer file for each kind of class order', () => {
    // Legitimate class in column 0 (schema 1), in the last column (string labels), and a model with no labels at all.
    for (const name of ['binary-zipmap-f32', 'scenario-tensor-f64', 'binary-strings-zipmap-f32', 'scenario-strings-tensor-f32', 'binary-graph-tensor-f32']) {
      assert.ok(answerFiles.includes(name), name);
    }
  });

  for (const name of answerFiles) {
    describe(name, () => {
      const answers = readAnswers(name);
      const { manifest } = readModel(name);
      let running: TestService;

      before(async () => {
        running = await startTestService({ [MODEL_VARIABLE[answers.task]]: fixture(name), FRAUD_MODEL_POLL_SECONDS: '0' });
      });

      after(async () => {
        await running.stop();
      });

      it('should describe the classes by the ids callers see: the legitimate class first', async () => {
        const { models } = await running.client.getModelInfo();
        const info = models[answers.task === 'binary' ? 0 : 1];
        assert.deepEqual(info?.classes, answers.service_classes.map(({ id, label }) => ({ id, label })));
      });

      it('should answer every transaction, one call at a time, as Python onnxruntime does', async () => {
        for (const entry of answers.cases) {
          const answer =
            answers.task === 'binary' ? await running.client.predict(input(entry)) : await running.client.predictScenario(input(entry));
          assert.deepEqual(received(answer), expected(entry.answer), `transaction ${entry.transaction.transaction_id}: ${JSON.stringify(entry.transaction)}`);
          assert.equal(answer.transactionId, BigInt(entry.transaction.transaction_id));
          if ('threshold' in answer) assert.equal(answer.threshold, manifest.threshold);
        }
      });

      it('should answer the same transactions in one batch call as Python onnxruntime does', async () => {
        const transactions = answers.cases.map(input);
        const batch =
          answers.task === 'binary' ? await running.client.predictBatch(transactions) : await running.client.predictScenarioBatch(transactions);
        assert.deepEqual(batch.predictions.map(received), answers.cases.map((entry) => expected(entry.answer)));
      });
    });
  }
});

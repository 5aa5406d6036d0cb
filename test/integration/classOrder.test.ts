import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FraudCallError, type TransactionInput } from '../../client/fraudClient.js';
import { assertProbabilitiesClose, readAnswers, readModel, type AnswerCase, type ExpectedAnswer } from '../helpers/modelFixtures.js';
import { FIXTURES, fixture } from '../helpers/paths.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

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

/** The class exactly, the probabilities within the tolerance (the committed ones come from another CPU, maybe). */
function assertSameAnswer(actual: Answer, wanted: Answer, message: string): void {
  assert.deepEqual([actual.prediction, actual.classId], [wanted.prediction, wanted.classId], message);
  assertProbabilitiesClose([actual.classProbability, actual.fraudProbability, ...actual.probabilities], [wanted.classProbability, wanted.fraudProbability, ...wanted.probabilities], message);
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
          assertSameAnswer(received(answer), expected(entry.answer), `transaction ${entry.transaction.transaction_id}: ${JSON.stringify(entry.transaction)}`);
          assert.equal(answer.transactionId, BigInt(entry.transaction.transaction_id));
          if ('threshold' in answer) assert.equal(answer.threshold, manifest.threshold);
        }
      });

      it('should answer the same transactions in one batch call as Python onnxruntime does', async () => {
        const transactions = answers.cases.map(input);
        const batch =
          answers.task === 'binary' ? await running.client.predictBatch(transactions) : await running.client.predictScenarioBatch(transactions);
        assert.equal(batch.predictions.length, answers.cases.length);
        answers.cases.forEach((entry, index) => {
          assertSameAnswer(received(batch.predictions[index] as Answer), expected(entry.answer), `batch entry ${index}`);
        });
      });
    });
  }
});

describe('a task whose only version is refused', () => {
  let running: TestService;

  before(async () => {
    running = await startTestService(
      { FRAUD_BINARY_MODEL_URI: fixture('binary-strings-zipmap-f32-reordered'), FRAUD_MODEL_POLL_SECONDS: '0' },
      false,
    );
    await waitFor('the refusal', () => running.service.registry.status()[0]?.lastError);
  });

  after(async () => {
    await running.stop();
  });

  it('should answer UNAVAILABLE saying why: the refusal of its version', async () => {
    await assert.rejects(running.client.predict({ transactionId: 1, customerId: 1, terminalId: 1, txAmount: 10, txTimeSeconds: 0 }), (error: unknown) => {
      assert.ok(error instanceof FraudCallError);
      assert.equal(error.code, status.UNAVAILABLE);
      assert.match(
        error.details,
        /^no binary model is serving: fraud-binary 1\.0\.0: the model's classes are \[fraud, legit\] \(classlabels_strings of ZipMap node \w+\), the manifest's classes are \[legit, fraud\];.*; retry with backoff$/,
      );
      return true;
    });
  });

  it('should keep serving the other task', async () => {
    await waitFor('the multiclass model', () => running.service.registry.serves('multiclass'));
    const answer = await running.client.predictScenario({ transactionId: 1, customerId: 1, terminalId: 1, txAmount: 10, txTimeSeconds: 0 });
    assert.equal(answer.model?.name, 'fraud-scenario');
  });

  it('should export fraud_model_serving 0 for the task, and count the refusal', async () => {
    const text = await scrape(running.service.metricsPort);
    assert.equal(sample(text, 'fraud_model_serving{task="binary"}'), 0);
    assert.equal(sample(text, 'fraud_model_load_failures_total{task="binary",reason="signature"}'), 1);
  });
});

describe('fraud_model_serving from start-up', () => {
  it('should be exported as 0 for every task before any model loads', async () => {
    // Both sources are missing: nothing ever loads, yet an alert on the gauge must see both tasks.
    const running = await startTestService(
      { FRAUD_BINARY_MODEL_URI: '/nonexistent/fraud-binary.json', FRAUD_SCENARIO_MODEL_URI: '/nonexistent/fraud-scenario.json' },
      false,
    );
    try {
      const text = await scrape(running.service.metricsPort);
      assert.equal(sample(text, 'fraud_model_serving{task="binary"}'), 0);
      assert.equal(sample(text, 'fraud_model_serving{task="multiclass"}'), 0);
    } finally {
      await running.stop();
    }
  });
});

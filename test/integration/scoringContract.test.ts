import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { FraudCallError, fieldViolationsOf, type TransactionInput } from '../../client/fraudClient.js';
import { FraudServiceClient } from '../../src/gen/fraud/v1/fraud_service.js';
import { assertProbabilitiesClose, readAnswers } from '../helpers/modelFixtures.js';
import { fixture } from '../helpers/paths.js';
import { startTestService, transaction, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

/** Asserts `call` fails INVALID_ARGUMENT with a violation of `field`. */
async function expectViolation(call: Promise<unknown>, field: string): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof FraudCallError, String(error));
    assert.equal(error.code, status.INVALID_ARGUMENT, error.message);
    assert.deepEqual(
      error.fieldViolations.map((violation) => violation.field),
      [field],
    );
    return true;
  });
}

// Cases the mutation run (npm run mutation) showed no test held.
describe('the scoring contract over a real socket: field names, the future bound, outcomes', () => {
  let running: TestService;

  before(async () => {
    running = await startTestService();
  });

  after(async () => {
    await running.stop();
  });

  it('should name the field of a bad transaction in PredictScenario, and the item in PredictScenarioBatch', async () => {
    await expectViolation(running.client.predictScenario(transaction({ txAmount: -1 })), 'transaction.tx_amount');
    await expectViolation(running.client.predictScenarioBatch([transaction(), transaction({ txAmount: -1 })]), 'transactions[1].tx_amount');
  });

  it('should accept a transaction less than FRAUD_STATE_MAX_FUTURE_SECONDS (300) ahead of its clock, and refuse one further ahead', async () => {
    const answer = await running.client.predict(transaction({ txTimeSeconds: undefined, txTimeDays: undefined, txDatetime: new Date(Date.now() + 60_000) }));
    assert.equal(answer.transactionId, 1n);
    await expectViolation(
      running.client.predict(transaction({ txTimeSeconds: undefined, txTimeDays: undefined, txDatetime: new Date(Date.now() + 3_600_000) })),
      'transaction.tx_datetime',
    );
  });

  it('should refuse a ReportOutcome without an outcome, naming the field', async () => {
    const stub = new FraudServiceClient(running.address, credentials.createInsecure());
    try {
      const error = await new Promise<ServiceError | null>((resolveCall) => {
        stub.reportOutcome({ outcome: undefined }, (failure) => {
          resolveCall(failure);
        });
      });
      assert.equal(error?.code, status.INVALID_ARGUMENT);
      assert.deepEqual(fieldViolationsOf(error.metadata), [{ field: 'outcome', description: 'is required' }]);
    } finally {
      stub.close();
    }
  });
});

describe('a service that keeps no history (FRAUD_STATE_STORE=none) scoring a stateless model', () => {
  let running: TestService;

  before(async () => {
    running = await startTestService({ FRAUD_STATE_STORE: 'none', FRAUD_BINARY_MODEL_URI: fixture('binary-zipmap-f32'), FRAUD_SCENARIO_MODEL_URI: fixture('scenario-zipmap-f32') });
  });

  after(async () => {
    await running.stop();
  });

  it('should score each transaction from its own features, as Python onnxruntime does', async () => {
    for (const entry of readAnswers('binary-zipmap-f32').cases) {
      const { transaction_id, customer_id, terminal_id, tx_amount, tx_time_seconds } = entry.transaction;
      const input: TransactionInput = { transactionId: transaction_id, customerId: customer_id, terminalId: terminal_id, txAmount: tx_amount, txTimeSeconds: tx_time_seconds };
      const answer = await running.client.predict(input, { explain: true });
      assertProbabilitiesClose(answer.probabilities, entry.answer.probabilities, JSON.stringify(entry.transaction));
      assert.equal(answer.features.TX_AMOUNT, tx_amount);
    }
  });
});

describe('UNAVAILABLE for a model whose error is long', () => {
  it('should repeat at most 300 characters of it to callers, with an ellipsis', async () => {
    // A path of short folders (each under the file system's name limit) that does not exist.
    const path = `/nonexistent/${'abcdefghij/'.repeat(40)}fraud-binary.json`;
    const running = await startTestService({ FRAUD_BINARY_MODEL_URI: path, FRAUD_MODEL_RETRY_MAX_SECONDS: '1' }, false);
    try {
      const error = await waitFor('the failed check', () => running.service.registry.status()[0]?.lastError);
      assert.ok(error.message.length > 300);
      await assert.rejects(running.client.predict(transaction()), (failure: unknown) => {
        assert.ok(failure instanceof FraudCallError);
        assert.equal(failure.code, status.UNAVAILABLE);
        assert.equal(failure.details, `no binary model is serving: ${error.message.slice(0, 300)}…; retry with backoff`);
        return true;
      });
    } finally {
      await running.stop();
    }
  });
});

import { readFileSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { FraudCallError } from '../../client/fraudClient.js';
import { MAX_VIOLATION_BYTES } from '../../src/api/apiErrors.js';
import { ModelTask } from '../../src/gen/fraud/v1/fraud_service.js';
import { RawStub } from '../helpers/rawStub.js';
import { bundled } from '../helpers/paths.js';
import { sample, scrape } from '../helpers/scrape.js';
import { establishedCard, startTestService, transaction, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const VALID = {
  transactionId: 1n,
  customerId: 42n,
  terminalId: 7n,
  txAmount: 57.16,
  txTimeSeconds: 3600n,
  txTimeDays: 0n,
};

describe('FraudService over a real socket (bundled models)', () => {
  let running: TestService;
  let raw: RawStub;

  before(async () => {
    running = await startTestService({ FRAUD_MAX_BATCH_SIZE: '50' });
    raw = new RawStub(running.address);
  });

  /** PredictBatch calls the service has answered INVALID_ARGUMENT. */
  async function refusedBatches(): Promise<number> {
    return sample(await scrape(running.service.metricsPort), 'fraud_grpc_requests_total{method="fraud.v1.FraudService/PredictBatch",code="INVALID_ARGUMENT"}') ?? 0;
  }

  after(async () => {
    raw.close();
    await running.stop();
  });

  describe('Predict', () => {
    it('should call an amount over 220 FRAUD with its probability, threshold and model version', async () => {
      const answer = await running.client.predict(transaction({ transactionId: 99, txAmount: 250 }));
      assert.equal(answer.prediction, 'FRAUD');
      assert.equal(answer.classId, 1);
      assert.ok(answer.fraudProbability >= answer.threshold, `${answer.fraudProbability} >= ${answer.threshold}`);
      assert.equal(answer.classProbability, answer.fraudProbability);
      assert.equal(answer.probabilities.length, 2);
      assert.ok(Math.abs((answer.probabilities[0] ?? 0) + (answer.probabilities[1] ?? 0) - 1) < 1e-4);
      assert.equal(answer.transactionId, 99n);
      assert.equal(answer.model?.name, 'fraud-binary');
      assert.ok(answer.model.version !== "");
      assert.match(answer.model.revision, /^sha256:[0-9a-f]{12}$/);
    });

    it('should call a small daytime amount a simple_transaction, with the probability of that class', async () => {
      const answer = await running.client.predict(transaction({ txAmount: 20, txTimeSeconds: 129600, txTimeDays: 1 }));
      assert.equal(answer.prediction, 'simple_transaction');
      assert.equal(answer.classId, 0);
      assert.ok(answer.fraudProbability < answer.threshold);
      assert.equal(answer.classProbability, answer.probabilities[0]);
      assert.ok(answer.classProbability > 0.5);
    });

    it('should take tx_datetime instead of tx_time_seconds', async () => {
      const answer = await running.client.predict({ transactionId: 5, customerId: 1, terminalId: 1, txAmount: 300, txDatetime: new Date('2026-11-28T03:15:00Z') });
      assert.equal(answer.prediction, 'FRAUD');
    });

    it('should keep probabilities within [0, 1] even where float32 rounding overshoots', async () => {
      for (const txAmount of [0, 0.01, 219.99, 220.01, 1e6, 3e38]) {
        const answer = await running.client.predict(transaction({ txAmount }));
        for (const probability of [...answer.probabilities, answer.classProbability, answer.fraudProbability]) {
          assert.ok(probability >= 0 && probability <= 1, `amount ${txAmount}: ${probability}`);
        }
      }
    });
  });

  describe('PredictScenario', () => {
    it('should answer with the scenario model: scenario_1 for an amount over 220 at a card that spends about 100', async () => {
      // Over 220 is scenario 1 whatever the card; 2.5 times its usual amount is not the five times of a compromised card (scenario 3).
      const card = establishedCard(100, { transactionId: 7, txAmount: 250 });
      await running.client.predictBatch(card.history);
      const answer = await running.client.predictScenario(card.next);
      assert.equal(answer.prediction, 'scenario_1');
      assert.equal(answer.classId, 1);
      assert.equal(answer.probabilities.length, 4);
      assert.equal(answer.classProbability, Math.max(...answer.probabilities));
      assert.ok(Math.abs(answer.fraudProbability - (1 - (answer.probabilities[0] ?? 0))) < 1e-9);
      assert.equal(answer.model?.name, 'fraud-scenario');
      assert.equal(answer.transactionId, 7n);
    });

    it('should not run the binary model (the original service did)', async () => {
      const answer = await running.client.predictScenario(transaction({ txAmount: 20 }));
      assert.ok(['simple_transaction', 'scenario_1', 'scenario_2', 'scenario_3'].includes(answer.prediction), answer.prediction);
      assert.notEqual(answer.model?.name, 'fraud-binary');
    });
  });

  describe('batches', () => {
    const amounts = [10, 250, 30, 500, 0, 221, 219];

    it('should score a batch in one call, in request order, like the unary calls', async () => {
      const items = amounts.map((txAmount, index) => transaction({ transactionId: 1000 + index, txAmount }));
      const batch = await running.client.predictBatch(items);
      assert.equal(batch.predictions.length, items.length);
      assert.equal(batch.model?.name, 'fraud-binary');
      assert.ok(batch.threshold > 0 && batch.threshold < 1);
      for (const [index, item] of items.entries()) {
        const single = await running.client.predict(item);
        const fromBatch = batch.predictions[index];
        assert.equal(fromBatch?.transactionId, BigInt(1000 + index));
        assert.equal(fromBatch.prediction, single.prediction);
        assert.deepEqual(fromBatch.probabilities, single.probabilities);
      }
    });

    it('should classify a scenario batch in request order', async () => {
      // Each amount at a card that usually spends about 100: 250 is scenario 1; 500, five times the usual, is scenario 3.
      const cards = amounts.map((txAmount, index) => establishedCard(100, { transactionId: 2000 + index, txAmount }));
      const history = cards.flatMap((card) => card.history);
      for (let start = 0; start < history.length; start += 50) await running.client.predictBatch(history.slice(start, start + 50));
      const items = cards.map((card) => card.next);
      const batch = await running.client.predictScenarioBatch(items);
      assert.deepEqual(batch.predictions.map((prediction) => prediction.transactionId), items.map((_, index) => BigInt(2000 + index)));
      assert.equal(batch.predictions[1]?.prediction, 'scenario_1');
      assert.equal(batch.predictions[3]?.prediction, 'scenario_3');
      assert.equal(batch.model?.name, 'fraud-scenario');
    });

    it('should fail the whole batch on one bad item, naming its index', async () => {
      const items = amounts.map((txAmount) => ({ ...VALID, txAmount }));
      items[3] = { ...VALID, txAmount: -5 };
      const failure = await raw.batchFailure(items);
      assert.equal(failure.code, status.INVALID_ARGUMENT);
      assert.deepEqual(failure.violations, [{ field: 'transactions[3].tx_amount', description: 'must be >= 0, got -5' }]);
    });

    it('should refuse a batch over the configured limit, and an empty one', async () => {
      const tooMany = await raw.batchFailure(Array.from({ length: 51 }, () => VALID));
      assert.equal(tooMany.code, status.INVALID_ARGUMENT);
      assert.deepEqual(tooMany.violations, [{ field: 'transactions', description: 'holds 51 transactions; at most 50 are allowed per call' }]);
      const empty = await raw.batchFailure([], 'predictScenarioBatch');
      assert.deepEqual(empty.violations, [{ field: 'transactions', description: 'must hold at least one transaction' }]);
    });

    it('should cap the violations of a batch full of bad items at 100, and what is listed at 3 KiB', async () => {
      const service = await startTestService({ FRAUD_MAX_BATCH_SIZE: '1000' });
      const stub = new RawStub(service.address);
      try {
        const failure = await stub.batchFailure(Array.from({ length: 500 }, () => ({ transactionId: 1n })));
        assert.match(failure.details, /and 99 more/);
        const listed = failure.violations.slice(0, -1);
        const note = /^(\d+) more violations not listed/.exec(failure.violations.at(-1)?.description ?? '');
        assert.ok(note, JSON.stringify(failure.violations.at(-1)));
        assert.equal(listed.length + Number(note[1]), 100);
        assert.ok(listed.length >= 30, `${listed.length} violations listed`);
        const listedBytes = listed.reduce((sum, violation) => sum + Buffer.byteLength(violation.field) + Buffer.byteLength(violation.description), 0);
        assert.ok(listedBytes <= MAX_VIOLATION_BYTES, `${listedBytes} bytes`);
      } finally {
        stub.close();
        await service.stop();
      }
    });

    it('should surface a failing batch from the batching helper as an error, even when a later batch fails first', async () => {
      // Batches 2 and 3 are refused; the helper throws batch 2's error and never awaits batch 3, whose refusal must not go unhandled.
      const items = Array.from({ length: 150 }, (_, index) => transaction({ transactionId: index, txAmount: index >= 50 ? -1 : 10 }));
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => {
        unhandled.push(reason);
      };
      process.on('unhandledRejection', onUnhandled);
      try {
        const refusedBefore = await refusedBatches();
        const consume = async (): Promise<void> => {
          for await (const answer of running.client.scoreAll('binary', items, { batchSize: 50, concurrency: 3 })) {
            assert.equal(answer.predictions.length, 50);
          }
        };
        await assert.rejects(consume(), (error: unknown) => {
          assert.ok(error instanceof FraudCallError);
          assert.equal(error.code, status.INVALID_ARGUMENT);
          assert.equal(error.fieldViolations[0]?.field, 'transactions[0].tx_amount');
          return true;
        });
        // Both refusals answered; then one more call on the same connection, answered after them, and a turn of the event loop.
        await waitFor('both refusals answered', async () => (await refusedBatches()) === refusedBefore + 2);
        await running.client.getModelInfo();
        await new Promise((next) => setImmediate(next));
        assert.deepEqual(unhandled, []);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });

    it('should score any number of transactions through the client batching helper, in order', async () => {
      const items = Array.from({ length: 230 }, (_, index) => transaction({ transactionId: index, txAmount: index % 2 === 0 ? 10 : 300 }));
      const progress: number[] = [];
      const ids: bigint[] = [];
      for await (const answer of running.client.scoreAll('binary', items, { batchSize: 50, concurrency: 3, onProgress: (done) => progress.push(done) })) {
        ids.push(...answer.predictions.map((prediction) => prediction.transactionId));
      }
      assert.deepEqual(ids, items.map((_, index) => BigInt(index)));
      assert.deepEqual(progress, [50, 100, 150, 200, 230]);
    });
  });

  describe('bad input', () => {
    const cases: [string, Partial<typeof VALID> & Record<string, unknown>, { field: string; description: string }[]][] = [
      ['a missing transaction_id', { transactionId: undefined }, [{ field: 'transaction.transaction_id', description: 'is required' }]],
      ['a missing customer_id and terminal_id', { customerId: undefined, terminalId: undefined }, [
        { field: 'transaction.customer_id', description: 'is required' },
        { field: 'transaction.terminal_id', description: 'is required' },
      ]],
      ['a missing amount', { txAmount: undefined }, [{ field: 'transaction.tx_amount', description: 'is required' }]],
      ['a NaN amount', { txAmount: Number.NaN }, [{ field: 'transaction.tx_amount', description: 'must be a number, got NaN' }]],
      ['an infinite amount', { txAmount: Number.POSITIVE_INFINITY }, [{ field: 'transaction.tx_amount', description: 'must be finite, got Infinity' }]],
      ['a -Infinity amount', { txAmount: Number.NEGATIVE_INFINITY }, [{ field: 'transaction.tx_amount', description: 'must be finite, got -Infinity' }]],
      ['a negative amount', { txAmount: -0.01 }, [{ field: 'transaction.tx_amount', description: 'must be >= 0, got -0.01' }]],
      ['an amount a float32 model cannot hold', { txAmount: 1e39 }, [
        { field: 'transaction.tx_amount', description: 'must be at most 3.4028234663852886e+38 for model fraud-binary (float32 input), got 1e+39' },
      ]],
      ['no time at all', { txTimeSeconds: undefined, txTimeDays: undefined }, [
        { field: 'transaction.tx_time_seconds', description: 'is required when tx_datetime is not given' },
      ]],
      ['a negative time', { txTimeSeconds: -1n, txTimeDays: undefined }, [{ field: 'transaction.tx_time_seconds', description: 'must be >= 0, got -1' }]],
      ['days that contradict the seconds', { txTimeSeconds: 86400n, txTimeDays: 0n }, [
        { field: 'transaction.tx_time_days', description: 'must be tx_time_seconds / 86400 = 1, got 0' },
      ]],
      ['an unknown precomputed feature', { features: { TX_COLOUR: 1 } }, [
        { field: 'transaction.features[TX_COLOUR]', description: 'is not a feature of model fraud-binary (precomputed features it takes: none)' },
      ]],
      ['a precomputed value for a feature the service computes', { features: { TX_AMOUNT: 1 } }, [
        { field: 'transaction.features[TX_AMOUNT]', description: 'is computed by the service from the transaction fields; do not send it' },
      ]],
    ];
    for (const [what, change, violations] of cases) {
      it(`should answer INVALID_ARGUMENT with field violations for ${what}`, async () => {
        const failure = await raw.predictFailure({ ...VALID, ...change });
        assert.equal(failure.code, status.INVALID_ARGUMENT);
        assert.deepEqual(failure.violations, violations);
        assert.ok(failure.details.startsWith(`${violations[0]?.field ?? ''}: `), failure.details);
      });
    }

    it('should answer INVALID_ARGUMENT for a request with no transaction', async () => {
      const failure = await raw.predictFailure(undefined, 'predictScenario');
      assert.equal(failure.code, status.INVALID_ARGUMENT);
      assert.deepEqual(failure.violations, [{ field: 'transaction', description: 'is required' }]);
    });

    it('should refuse a message over the size limit before doing any work', async () => {
      const service = await startTestService({ FRAUD_MAX_MESSAGE_BYTES: '4096' });
      try {
        const items = Array.from({ length: 200 }, () => transaction());
        await assert.rejects(service.client.predictBatch(items), (error: unknown) => error instanceof FraudCallError && error.code === status.RESOURCE_EXHAUSTED);
        assert.equal((await service.client.predict(transaction())).model?.name, 'fraud-binary');
      } finally {
        await service.stop();
      }
    });

    it('should surface the violations through the typed client', async () => {
      await assert.rejects(running.client.predict(transaction({ txAmount: -1 })), (error: unknown) => {
        assert.ok(error instanceof FraudCallError);
        assert.equal(error.code, status.INVALID_ARGUMENT);
        assert.deepEqual(error.fieldViolations, [{ field: 'transaction.tx_amount', description: 'must be >= 0, got -1' }]);
        return true;
      });
    });
  });

  describe('GetModelInfo', () => {
    it('should describe both serving models', async () => {
      const { models } = await running.client.getModelInfo();
      assert.deepEqual(models.map((info) => info.task), [ModelTask.MODEL_TASK_BINARY, ModelTask.MODEL_TASK_MULTICLASS]);
      const [binary, scenario] = models;
      assert.ok(binary !== undefined && scenario !== undefined);
      assert.equal(binary.serving, true);
      assert.equal(binary.model?.name, 'fraud-binary');
      const manifest = JSON.parse(readFileSync(bundled('fraud-binary'), 'utf8')) as { features: string[] };
      assert.deepEqual(binary.features, manifest.features);
      assert.ok(binary.features.includes('TERMINAL_ID_RISK_7DAY_WINDOW'), 'the bundled model reads history');
      assert.deepEqual(binary.classes, [{ id: 0, label: 'simple_transaction' }, { id: 1, label: 'FRAUD' }]);
      assert.equal(typeof binary.threshold, 'number');
      assert.equal(binary.inputElementType, 'float32');
      assert.match(binary.source, /^file:\/\/.*\/models\/fraud-binary\.json$/);
      assert.match(binary.sha256, /^[0-9a-f]{64}$/);
      assert.ok(binary.loadedAt instanceof Date && binary.createdAt instanceof Date && binary.lastCheckedAt instanceof Date);
      assert.equal(binary.lastError, '');
      assert.deepEqual(scenario.classes.map((entry) => entry.label), ['simple_transaction', 'scenario_1', 'scenario_2', 'scenario_3']);
      assert.equal(scenario.threshold, undefined);
    });
  });

  describe('while models are not loaded', () => {
    it('should answer UNAVAILABLE, and GetModelInfo should say what is wrong', async () => {
      const service = await startTestService({ FRAUD_BINARY_MODEL_URI: '/nonexistent/fraud-binary.json', FRAUD_MODEL_RETRY_MAX_SECONDS: '1' }, false);
      try {
        await waitFor('the first check of the binary source', () => service.service.registry.status()[0]?.lastError);
        await assert.rejects(service.client.predict(transaction()), (error: unknown) => {
          assert.ok(error instanceof FraudCallError);
          assert.equal(error.code, status.UNAVAILABLE);
          assert.match(error.details, /^no binary model is serving: \/nonexistent\/fraud-binary\.json does not exist; retry with backoff$/);
          return true;
        });
        const { models } = await service.client.getModelInfo();
        assert.equal(models[0]?.serving, false);
        assert.match(models[0].lastError, /\/nonexistent\/fraud-binary\.json does not exist/);
      } finally {
        await service.stop();
      }
    });

    it('should keep the store URL and the raw error text to itself by default (FRAUD_MODEL_INFO_DETAILS unset)', async () => {
      const service = await startTestService({ FRAUD_BINARY_MODEL_URI: '/srv/internal-store/fraud-binary.json', FRAUD_MODEL_RETRY_MAX_SECONDS: '1', FRAUD_MODEL_INFO_DETAILS: '' }, false);
      try {
        const [binary, scenario] = (await waitFor('the failed check', async () => {
          const { models } = await service.client.getModelInfo();
          return models[0]?.lastErrorAt === undefined ? undefined : models;
        }))
        assert.ok(binary !== undefined && scenario !== undefined);
        assert.equal(binary.serving, false);
        assert.equal(binary.lastError, 'the last check or load of this model failed; the service log has the details');
        assert.ok(binary.lastErrorAt instanceof Date);
        assert.equal(binary.source, '');
        assert.equal(scenario.source, '');
        const answer = JSON.stringify(await service.client.getModelInfo(), (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value));
        assert.doesNotMatch(answer, /internal-store|\/srv\/|does not exist/);
        // Nor do the callers turned away while the model is missing.
        await assert.rejects(service.client.predict(transaction()), (error: unknown) => {
          assert.ok(error instanceof FraudCallError);
          assert.equal(error.code, status.UNAVAILABLE);
          assert.equal(error.details, 'no binary model is serving: the last check or load of this model failed; the service log has the details; retry with backoff');
          return true;
        });
        assert.ok(service.logs.some((record) => JSON.stringify(record).includes('/srv/internal-store/fraud-binary.json')), 'the log has the details');
      } finally {
        await service.stop();
      }
    });
  });
});

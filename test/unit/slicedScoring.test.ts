import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { scoreTransactions } from '../../src/api/scoring.js';
import { loadFeatureSpec } from '../../src/features/featureSpec.js';
import { Transaction } from '../../src/gen/fraud/v1/fraud_service.js';
import { FileModelSource } from '../../src/models/fileModelSource.js';
import { ModelLoader } from '../../src/models/modelLoader.js';
import { packageRoot } from '../../src/packageRoot.js';

describe('batches scored in slices', () => {
  for (const [task, file] of [
    ['binary', 'fraud-binary.json'],
    ['multiclass', 'fraud-scenario.json'],
  ] as const) {
    it(`should give every row of a ${task} batch the probabilities one model run gives it, whatever the slice size`, async () => {
      const loader = new ModelLoader({ featureSpec: loadFeatureSpec(), intraOpThreads: 1 });
      const model = await loader.load(task, await new FileModelSource(pathToFileURL(join(packageRoot, 'models', file))).fetch());
      model.acquire();
      try {
        const transactions = Array.from({ length: 1_003 }, (_, index) =>
          Transaction.fromPartial({ transactionId: BigInt(index), customerId: 1n, terminalId: 1n, txAmount: (index * 7.3) % 400, txTimeSeconds: 3600n, features: {} }),
        );
        const options = { history: undefined, batch: true, explain: false };
        const whole = await scoreTransactions(model, transactions, options);
        for (const sliceRows of [1, 64, 100, 1_002, 1_003]) {
          const sliced = await scoreTransactions(model, transactions, { ...options, sliceRows });
          assert.deepEqual(sliced.probabilities, whole.probabilities, `slices of ${sliceRows}`);
          assert.deepEqual(sliced.classIds, whole.classIds, `slices of ${sliceRows}`);
        }
      } finally {
        model.release();
        model.retire();
      }
    });
  }
});

import assert from 'node:assert/strict';
import { FeatureBuilder, FeatureListError, type TransactionFields } from '../../src/features/featureBuilder.js';
import { loadFeatureSpec, type FeatureSpec, type FeatureTestVector } from '../../src/features/featureSpec.js';

function fields(vector: FeatureTestVector): TransactionFields {
  const { transaction } = vector;
  return {
    txAmount: transaction.tx_amount,
    txTimeSeconds: transaction.tx_time_seconds === undefined ? undefined : BigInt(transaction.tx_time_seconds),
    txDatetime: transaction.tx_datetime === undefined ? undefined : new Date(transaction.tx_datetime),
    features: {},
  };
}

describe('feature builder', () => {
  const spec = loadFeatureSpec();
  const names = [...spec.features.keys()];

  it('should load the shared specification with its test vectors', () => {
    assert.deepEqual(names, ['TX_AMOUNT', 'TX_DURING_WEEKEND', 'TX_DURING_NIGHT']);
    assert.equal(spec.epochSeconds, Date.UTC(2018, 3, 1) / 1000);
    assert.ok(spec.testVectors.length >= 10, `${spec.testVectors.length} vectors`);
  });

  describe('shared test vectors (models/feature-spec.json)', () => {
    const builder = new FeatureBuilder(spec, names);
    for (const vector of loadFeatureSpec().testVectors) {
      it(`should reproduce: ${vector.name}`, () => {
        assert.deepEqual(builder.describe(fields(vector)), vector.expected);
      });
    }
  });

  it('should write rows in the order the model lists its features, in float32 or float64', () => {
    const builder = new FeatureBuilder(spec, ['TX_DURING_NIGHT', 'TX_AMOUNT']);
    const row32 = new Float32Array(4);
    builder.write({ txAmount: 0.1, txTimeSeconds: 3600n, features: {} }, row32, 1);
    assert.deepEqual([...row32], [0, 0, 1, Math.fround(0.1)]);
    const row64 = new Float64Array(2);
    builder.write({ txAmount: 0.1, txTimeSeconds: 3600n, features: {} }, row64, 0);
    assert.deepEqual([...row64], [1, 0.1]);
  });

  it('should refuse a feature list with a name the specification does not define', () => {
    assert.throws(() => new FeatureBuilder(spec, ['TX_AMOUNT', 'TX_COLOUR']), FeatureListError);
  });

  it('should take window features from the request (precomputed), since the service does not compute them yet', () => {
    const withWindow: FeatureSpec = {
      ...spec,
      features: new Map([
        ...spec.features,
        ['CUSTOMER_ID_NB_TX_7DAY_WINDOW', { name: 'CUSTOMER_ID_NB_TX_7DAY_WINDOW', kind: 'customer_window', type: 'integer', unit: 'transactions', inputs: ['customer_id'], formula: 'count' }],
      ]),
    };
    const builder = new FeatureBuilder(withWindow, ['TX_AMOUNT', 'CUSTOMER_ID_NB_TX_7DAY_WINDOW']);
    assert.deepEqual([...builder.precomputed], ['CUSTOMER_ID_NB_TX_7DAY_WINDOW']);
    assert.deepEqual([...builder.computed], ['TX_AMOUNT']);
    assert.equal(builder.needsTime, false);
    assert.deepEqual(builder.describe({ txAmount: 5, features: { CUSTOMER_ID_NB_TX_7DAY_WINDOW: 12 } }), {
      TX_AMOUNT: 5,
      CUSTOMER_ID_NB_TX_7DAY_WINDOW: 12,
    });
  });
});

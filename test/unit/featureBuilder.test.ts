import assert from 'node:assert/strict';
import { FeatureBuilder, FeatureListError, type TransactionFields } from '../../src/features/featureBuilder.js';
import { loadFeatureSpec, type FeatureTestVector } from '../../src/features/featureSpec.js';

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

  const stateless = names.slice(0, 3);

  it('should load the shared specification with its test vectors', () => {
    assert.deepEqual(stateless, ['TX_AMOUNT', 'TX_DURING_WEEKEND', 'TX_DURING_NIGHT']);
    assert.equal(spec.specVersion, 3);
    assert.equal(names.length, 19);
    assert.equal(spec.epochSeconds, Date.UTC(2018, 3, 1) / 1000);
    assert.ok(spec.testVectors.length >= 10, `${spec.testVectors.length} vectors`);
    assert.ok(spec.historyVectors.length >= 10, `${spec.historyVectors.length} history vectors`);
  });

  describe('shared test vectors (models/feature-spec.json)', () => {
    const builder = new FeatureBuilder(spec, stateless);
    for (const vector of loadFeatureSpec().testVectors) {
      it(`should reproduce: ${vector.name}`, () => {
        assert.deepEqual(builder.describe(fields(vector)), vector.expected);
      });
    }
  });

  it('should write rows in the order the model lists its features, in float32 or float64', () => {
    const builder = new FeatureBuilder(spec, ['TX_DURING_NIGHT', 'TX_AMOUNT']);
    const row32 = new Float32Array(4);
    builder.write({ txAmount: 0.1, txTimeSeconds: 3600n, features: {} }, undefined, row32, 1);
    assert.deepEqual([...row32], [0, 0, 1, Math.fround(0.1)]);
    const row64 = new Float64Array(2);
    builder.write({ txAmount: 0.1, txTimeSeconds: 3600n, features: {} }, undefined, row64, 0);
    assert.deepEqual([...row64], [1, 0.1]);
  });

  it('should refuse a feature list with a name the specification does not define', () => {
    assert.throws(() => new FeatureBuilder(spec, ['TX_AMOUNT', 'TX_COLOUR']), FeatureListError);
  });

  it('should refuse history features when no state store keeps history, naming why', () => {
    assert.throws(
      () => new FeatureBuilder(spec, ['TX_AMOUNT', 'CUSTOMER_ID_NB_TX_7DAY_WINDOW'], { history: false, storeDescription: 'this service (FRAUD_STATE_STORE=none)' }),
      (error: unknown) =>
        error instanceof FeatureListError &&
        error.message === 'feature CUSTOMER_ID_NB_TX_7DAY_WINDOW needs customer and terminal history, which this service (FRAUD_STATE_STORE=none) does not keep',
    );
    assert.doesNotThrow(() => new FeatureBuilder(spec, ['TX_AMOUNT'], { history: false, storeDescription: 'none' }));
  });

  it('should compute history features from an empty history as a first transaction at a new terminal', () => {
    const builder = new FeatureBuilder(spec, ['CUSTOMER_ID_NB_TX_1DAY_WINDOW', 'CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW', 'TERMINAL_ID_RISK_7DAY_WINDOW']);
    assert.equal(builder.needsHistory, true);
    assert.deepEqual(builder.describe({ transactionId: 1n, txAmount: 12.5, txTimeSeconds: 86_400n, features: {} }), {
      CUSTOMER_ID_NB_TX_1DAY_WINDOW: 1,
      CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW: 12.5,
      TERMINAL_ID_RISK_7DAY_WINDOW: 0,
    });
  });
});

import assert from 'node:assert/strict';
import { eventTimeSeconds } from '../../src/features/eventClock.js';
import { FeatureBuilder, type TransactionFields } from '../../src/features/featureBuilder.js';
import type { TransactionHistory } from '../../src/features/entityHistory.js';
import { isWindowFeature, type FeatureSpec, type HistoryVector, type VectorTransaction } from '../../src/features/featureSpec.js';
import type { StateStore, TransactionEvent } from '../../src/state/stateStore.js';

/** Values compare with the spec's tolerance. */
const TOLERANCE = 1e-9;

export function vectorFields(transaction: VectorTransaction): TransactionFields {
  return {
    transactionId: BigInt(transaction.transaction_id),
    txAmount: transaction.tx_amount,
    txTimeSeconds: transaction.tx_time_seconds === undefined ? undefined : BigInt(transaction.tx_time_seconds),
    txDatetime: transaction.tx_datetime === undefined ? undefined : new Date(transaction.tx_datetime),
    features: {},
  };
}

export function vectorEvent(transaction: VectorTransaction, spec: FeatureSpec): TransactionEvent {
  return {
    id: BigInt(transaction.transaction_id),
    customerId: BigInt(transaction.customer_id),
    terminalId: BigInt(transaction.terminal_id),
    amount: transaction.tx_amount,
    time: eventTimeSeconds(vectorFields(transaction), spec.epochSeconds),
  };
}

/**
 * Plays one history vector of models/feature-spec.json against a store (a
 * fresh one, with the vector's lateness) and checks every expectation: the
 * features of each scored transaction, refusals, duplicates, outcome statuses.
 */
export async function playHistoryVector(vector: HistoryVector, spec: FeatureSpec, store: StateStore): Promise<void> {
  const names = [...spec.features.values()].filter(isWindowFeature).map((feature) => feature.name);
  const builder = new FeatureBuilder(spec, names);
  for (const [position, event] of vector.events.entries()) {
    const where = `${vector.name}, event ${position}`;
    if ('outcome' in event) {
      const { outcome } = event;
      const knownAt = outcome.known_at === undefined ? spec.epochSeconds + (outcome.known_at_seconds ?? 0) : Date.parse(outcome.known_at) / 1000;
      const [result] = await store.reportOutcomes([{ transactionId: BigInt(outcome.transaction_id), outcome: outcome.outcome, knownAt }]);
      assert.equal(result?.status, event.expected_status, `${where}: ${result?.message ?? ''}`);
      continue;
    }
    let seen: { values: Record<string, number>; history: TransactionHistory } | undefined;
    const late = await store.record(
      [vectorEvent(event.transaction, spec)],
      (_index, history) => {
        seen = { values: builder.describe(vectorFields(event.transaction), history), history };
      },
      { allOrNothing: true },
    );
    if (event.expected_error === 'late') {
      assert.equal(late.length, 1, `${where}: should be refused as late`);
      assert.equal(seen, undefined, `${where}: a late transaction must not be scored`);
      continue;
    }
    assert.deepEqual(late, [], `${where}: refused as late`);
    assert.ok(seen !== undefined, `${where}: no history handed over`);
    if (event.expected_duplicate !== undefined) assert.equal(seen.history.duplicate, event.expected_duplicate, `${where}: duplicate`);
    for (const [name, expected] of Object.entries(event.expected ?? {})) {
      const actual = seen.values[name];
      assert.ok(actual !== undefined && Math.abs(actual - expected) <= TOLERANCE, `${where}: ${name} is ${actual}, expected ${expected}`);
    }
  }
}

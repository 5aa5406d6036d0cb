import assert from 'node:assert/strict';
import { eventTimeSeconds } from '../../src/features/eventClock.js';
import { FeatureBuilder, type TransactionFields } from '../../src/features/featureBuilder.js';
import type { TransactionHistory } from '../../src/features/entityHistory.js';
import { isWindowFeature, type FeatureSpec, type HistoryVector, type VectorTransaction, type VectorTransactionEvent } from '../../src/features/featureSpec.js';
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

/** Checks the features a scored transaction got against its event's expectations. */
function checkScored(event: VectorTransactionEvent, seen: Scored | undefined, where: string): void {
  assert.ok(seen !== undefined, `${where}: no history handed over`);
  if (event.expected_duplicate !== undefined) assert.equal(seen.history.duplicate, event.expected_duplicate, `${where}: duplicate`);
  for (const [name, expected] of Object.entries(event.expected ?? {})) {
    const actual = seen.values[name];
    assert.ok(actual !== undefined && Math.abs(actual - expected) <= TOLERANCE, `${where}: ${name} is ${actual}, expected ${expected}`);
  }
}

interface Scored {
  readonly values: Record<string, number>;
  readonly history: TransactionHistory;
}

/**
 * Plays one history vector of models/feature-spec.json against a store (a
 * fresh one, with the vector's lateness) and checks every expectation: the
 * features of each scored transaction, refusals, duplicates, outcome statuses.
 * A batch event is one call, all or nothing.
 */
export async function playHistoryVector(vector: HistoryVector, spec: FeatureSpec, store: StateStore): Promise<void> {
  const names = [...spec.features.values()].filter(isWindowFeature).map((feature) => feature.name);
  const builder = new FeatureBuilder(spec, names);
  for (const [position, event] of vector.events.entries()) {
    const where = `${vector.name}, event ${position}`;
    if ('outcome' in event) {
      const { outcome } = event;
      const knownAt = outcome.known_at === undefined ? spec.epochSeconds + (outcome.known_at_seconds ?? 0) : Date.parse(outcome.known_at) / 1000;
      const [result] = await store.reportOutcomes([{ transactionId: BigInt(outcome.transaction_id), outcome: outcome.outcome, knownAt, supersedes: outcome.supersedes === true }]);
      assert.equal(result?.status, event.expected_status, `${where}: ${result?.message ?? ''}`);
      continue;
    }
    const events: readonly VectorTransactionEvent[] = 'batch' in event ? event.batch : [event];
    const seen = new Map<number, Scored>();
    const late = await store.record(
      events.map((one) => vectorEvent(one.transaction, spec)),
      (index, history) => {
        seen.set(index, { values: builder.describe(vectorFields((events[index] as VectorTransactionEvent).transaction), history), history });
      },
      { allOrNothing: true },
    );
    const expectedLate = events.flatMap((one, index) => (one.expected_error === 'late' ? [index] : []));
    assert.deepEqual(
      late.map((refused) => refused.index),
      expectedLate,
      `${where}: refused as late ${JSON.stringify(late.map((refused) => refused.index))}, expected ${JSON.stringify(expectedLate)}`,
    );
    if (expectedLate.length > 0) {
      assert.deepEqual([...seen.keys()], [], `${where}: nothing of a call with a late transaction may be scored or recorded`);
      continue;
    }
    events.forEach((one, index) => {
      checkScored(one, seen.get(index), 'batch' in event ? `${where}, batch entry ${index}` : where);
    });
  }
}

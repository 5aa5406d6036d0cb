import assert from 'node:assert/strict';
import type { Transaction } from '../../src/gen/fraud/v1/fraud_service.js';
import { RecordBuffer, type CallSlice } from '../../src/decisionLog/recordBuffer.js';
import type { ScoredCall } from '../../src/decisionLog/scoredCall.js';

/** A call of `count` transactions whose ids start at `first`. */
function call(first: number, count: number): ScoredCall {
  const transactions = Array.from({ length: count }, (_, index) => ({ transactionId: BigInt(first + index) }) as Transaction);
  return { method: 'fraud.v1.FraudService/PredictBatch', transactions, runs: [], latencySeconds: 0.001, decidedAtMs: 0 };
}

/** The transaction ids of slices, in order. */
function ids(slices: readonly CallSlice[]): number[] {
  return slices.flatMap((slice) => slice.call.transactions.slice(slice.from, slice.to).map((transaction) => Number(transaction.transactionId)));
}

describe('decision log buffer', () => {
  it('should keep records up to its capacity exactly, the oldest first, and drop the rest of a call that does not fit', () => {
    const buffer = new RecordBuffer(10);
    assert.equal(buffer.push(call(0, 4), 0), 0);
    assert.equal(buffer.push(call(100, 6), 0), 0);
    assert.equal(buffer.size, 10);
    assert.equal(buffer.push(call(200, 1), 0), 1, 'a full buffer drops a new record');
    assert.deepEqual(ids(buffer.peek(100)), [0, 1, 2, 3, 100, 101, 102, 103, 104, 105]);
    buffer.remove(3);
    assert.equal(buffer.size, 7);
    assert.equal(buffer.push(call(300, 5), 0), 2, 'three of five fit');
    assert.equal(buffer.size, 10);
    assert.deepEqual(ids(buffer.peek(100)), [3, 100, 101, 102, 103, 104, 105, 300, 301, 302]);
  });

  it('should hand out batches across calls and inside one, removing exactly what was written', () => {
    const buffer = new RecordBuffer(1_000);
    buffer.push(call(0, 5), 0);
    buffer.push(call(10, 5), 0);
    assert.deepEqual(ids(buffer.peek(7)), [0, 1, 2, 3, 4, 10, 11]);
    assert.equal(buffer.size, 10, 'peeking takes nothing away');
    buffer.remove(7);
    assert.deepEqual(ids(buffer.peek(7)), [12, 13, 14]);
    buffer.remove(3);
    assert.equal(buffer.size, 0);
    assert.deepEqual(buffer.peek(7), []);
  });

  it('should say how long its oldest record has waited, and nothing when empty', () => {
    const buffer = new RecordBuffer(100);
    assert.equal(buffer.oldestWaitMs(50), 0);
    buffer.push(call(0, 2), 10);
    buffer.push(call(2, 2), 30);
    assert.equal(buffer.oldestWaitMs(50), 40);
    buffer.remove(2);
    assert.equal(buffer.oldestWaitMs(50), 20);
    assert.equal(buffer.clear(), 2);
    assert.equal(buffer.oldestWaitMs(50), 0);
  });

  it('should hand out the right records after many calls, once its consumed front has been compacted', () => {
    const buffer = new RecordBuffer(50);
    let next = 0;
    for (let round = 0; round < 5_000; round++) {
      assert.equal(buffer.push(call(next, 3), round), 0);
      next += 3;
      buffer.remove(3);
    }
    assert.equal(buffer.size, 0);
    buffer.push(call(next, 2), 0);
    assert.deepEqual(ids(buffer.peek(10)), [next, next + 1]);
  });
});

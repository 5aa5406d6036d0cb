import assert from 'node:assert/strict';
import { historyDays, loadFeatureSpec } from '../../src/features/featureSpec.js';
import { keyOf, MemoryStateStore } from '../../src/state/memoryStateStore.js';
import type { TransactionEvent } from '../../src/state/stateStore.js';
import { TransactionIndex } from '../../src/state/transactionIndex.js';

const BIG = 2n ** 53n;
const START = 1_700_000_000;

/** Transaction `id` of its own card and terminal: big ones (2^53 or more) for a big id, small ones for a small id. */
function event(id: bigint, time = START): TransactionEvent {
  const base = id >= BIG ? 2n ** 60n : 1_000n;
  return { id, customerId: base + id, terminalId: base * 2n + id, amount: 10, time };
}

function limitedStore(maxTransactions: number): { store: MemoryStateStore; forgottenEarly: () => number; forgottenRetries: () => number } {
  let forgotten = 0;
  let retries = 0;
  const store = new MemoryStateStore({
    latenessSeconds: 3600,
    historyDays: historyDays(loadFeatureSpec()),
    maxEntities: 10_000_000,
    maxTransactions,
    onEvicted: (kind, count) => {
      if (kind === 'transaction') forgotten += count;
    },
    onForgottenRetry: () => {
      retries++;
    },
  });
  return { store, forgottenEarly: () => forgotten, forgottenRetries: () => retries };
}

async function recordedAsDuplicate(store: MemoryStateStore, transaction: TransactionEvent): Promise<boolean> {
  let duplicate: boolean | undefined;
  await store.record([transaction], (_index, history) => {
    duplicate = history.duplicate;
  }, { allOrNothing: true });
  assert.ok(duplicate !== undefined, 'not recorded');
  return duplicate;
}

describe('the transaction index with 64-bit ids', () => {
  it('should be sized at once for the limit it is given: no doubling up to the limit rounded up to a power of two, doubling beyond, every entry kept', () => {
    const index = new TransactionIndex(100_000);
    assert.equal(index.places, 131_072);
    for (let id = 1n; id <= 131_072n; id++) index.add(id, id, id, START);
    assert.equal(index.places, 131_072, 'full, not doubled');
    index.add(131_073n, 1n, 1n, START);
    assert.equal(index.places, 262_144, 'doubled beyond');
    for (const id of [1n, 65_536n, 131_072n, 131_073n]) assert.equal(index.get(id)?.customerId, id === 131_073n ? 1n : id);
    assert.equal(new TransactionIndex().places, new TransactionIndex(1).places, 'a small index by default');
  });

  it('should count bytes for the ring places written, not for the places it was sized for, and the whole table', () => {
    const index = new TransactionIndex(1_000_000);
    const empty = index.bytes;
    assert.equal(empty, index.places * 2 * 4, 'the table only');
    for (let id = 1n; id <= 1_000n; id++) index.add(id, id, id, START);
    const thousand = index.bytes;
    for (let id = 1_001n; id <= 2_000n; id++) index.add(id, id, id, START);
    assert.ok(thousand > empty);
    assert.equal(index.bytes - thousand, thousand - empty, 'the same bytes for each thousand');
  });

  it('should be sized by the embedded store for its transaction limit', () => {
    assert.equal(limitedStore(300_000).store.transactions.places, 524_288);
  });

  it('should keep every id exactly, whatever its size, and read back its card, terminal, time and amount', () => {
    const index = new TransactionIndex();
    const ids = [0n, 1n, BIG - 1n, BIG, BIG + 1n, 2n ** 62n + 12345n, 2n ** 63n - 1n, 4294967296n, 4294967295n];
    for (const [position, id] of ids.entries()) index.add(id, id ^ 1n, 2n ** 63n - 1n - id, START + position, position * 1.5);
    assert.equal(index.size, ids.length);
    for (const [position, id] of ids.entries()) {
      const entry = index.get(id);
      assert.deepEqual(entry, { customerId: id ^ 1n, terminalId: 2n ** 63n - 1n - id, time: START + position, amount: position * 1.5, outcome: 0, knownAt: 0, corrections: 0 }, `id ${id}`);
      assert.equal(index.isRepeat(id, id ^ 1n, 2n ** 63n - 1n - id), true);
      // Ids that differ from a kept one in one bit only, above or below 2^53, are not confused with it.
      assert.equal(index.isRepeat(id, (id ^ 1n) + 2n ** 40n, 2n ** 63n - 1n - id), false);
    }
    assert.equal(index.has(BIG + 2n), false);
    assert.equal(index.has(2n ** 62n + 12345n + 2n ** 33n), false);
  });

  it('should keep each outcome and its count of corrections through growing and through forgetting that moves entries', () => {
    const index = new TransactionIndex();
    const count = 40_000; // past the first table size: it grows twice
    for (let position = 0; position < count; position++) {
      const id = BigInt(position * 7919);
      index.add(id, 1n, 2n, START + position);
      index.setOutcome(id, position % 2 === 0 ? 1 : 2, START + position + 1, position % 4);
    }
    // Forgetting the oldest half shifts the probe runs of the rest.
    index.forget(START + count / 2, count);
    for (let position = count / 2; position < count; position++) {
      const entry = index.get(BigInt(position * 7919));
      assert.deepEqual([entry?.outcome, entry?.knownAt, entry?.corrections], [position % 2 === 0 ? 1 : 2, START + position + 1, position % 4], `position ${position}`);
    }
  });

  it('should keep every entry, its scores and the recording order when the ring of entries grows after wrapping around', () => {
    const index = new TransactionIndex();
    const id = (position: number): bigint => BigInt(position) * 2_654_435_761n + (position % 2 === 0 ? 0n : BIG);
    const add = (position: number): void => {
      index.add(id(position), BigInt(position % 97), BigInt(position % 89), START + position, position / 4);
      index.keepScore(id(position), BigInt(position % 97), BigInt(position % 89), 1 + (position % 3), position / 1e6, position % 2 === 0);
    };
    // Forgetting the first 3,000 moves the ring's front; the next ones fill its end and then its beginning,
    // until it is full with its front in the middle, and the next one makes it grow (twice, at 8,192 and 16,384).
    for (let position = 0; position < 8_000; position++) add(position);
    index.forget(START + 3_000, Number.POSITIVE_INFINITY);
    for (let position = 8_000; position < 20_000; position++) add(position);
    const check = (from: number): void => {
      assert.equal(index.size, 20_000 - from);
      const order = [...index.entries()].map(([each]) => each);
      assert.deepEqual(order, Array.from({ length: 20_000 - from }, (_, offset) => id(from + offset)), 'recording order');
      for (let position = from; position < 20_000; position++) {
        assert.deepEqual(index.get(id(position)), { customerId: BigInt(position % 97), terminalId: BigInt(position % 89), time: START + position, amount: position / 4, outcome: 0, knownAt: 0, corrections: 0 }, `position ${position}`);
        assert.deepEqual(index.scoresOf(id(position)), [{ code: 1 + (position % 3), probability: position / 1e6, alerted: position % 2 === 0 }], `scores at ${position}`);
      }
      for (let position = 0; position < from; position++) assert.equal(index.has(id(position)), false, `position ${position} is forgotten`);
    };
    check(3_000);
    index.forget(Number.NEGATIVE_INFINITY, 9_000);
    check(11_000);
  });

  it('should hold big ids in the same table as small ones (the same bytes for the same count)', () => {
    const small = new TransactionIndex();
    const big = new TransactionIndex();
    for (let offset = 0n; offset < 40_000n; offset++) {
      small.add(offset, offset, offset, START);
      big.add(BIG * 64n + offset, BIG * 128n + offset, BIG * 256n + offset, START);
    }
    assert.equal(big.size, small.size);
    assert.equal(big.bytes, small.bytes);
  });

  it('should forget past the limit in one recording order for all ids: a small id recorded after big ids fill the index keeps its entry', async () => {
    const { store, forgottenEarly } = limitedStore(1_000);
    const bigIds = Array.from({ length: 1_000 }, (_, offset) => BIG + BigInt(offset) * 7_919n);
    await store.record(bigIds.map((id) => event(id)), () => undefined, { allOrNothing: true });
    assert.equal(store.transactions.size, 1_000);
    const small = event(42n, START + 1);
    assert.equal(await recordedAsDuplicate(store, small), false);
    assert.equal(store.transactions.size, 1_000);
    assert.equal(store.transactions.has(42n), true, 'the small id recorded last must stay');
    assert.equal(store.transactions.has(bigIds[0] as bigint), false, 'the oldest big id goes first');
    assert.equal(store.transactions.has(bigIds[1] as bigint), true);
    assert.equal(forgottenEarly(), 1);
    // Its outcome is known, and its retry counts once.
    const [result] = await store.reportOutcomes([{ transactionId: 42n, outcome: 'fraud', knownAt: START + 10 }]);
    assert.equal(result?.status, 'applied');
    assert.equal(await recordedAsDuplicate(store, small), true);
  });

  it('should forget big and small ids interleaved in the order they were recorded', async () => {
    const { store } = limitedStore(4);
    const ids = [BIG + 5n, 3n, BIG * 2n, 7n, BIG + 9n, 11n];
    for (const id of ids) await store.record([event(id)], () => undefined, { allOrNothing: true });
    assert.deepEqual(
      [...store.transactions.entries()].map(([id]) => id),
      ids.slice(2),
    );
  });

  it('should keep a 10k batch of big ids past the limit recorded and forgotten like small ids (same index content, same forgotten count)', async () => {
    const run = async (base: bigint): Promise<{ size: number; forgotten: number; kept: bigint[] }> => {
      const { store, forgottenEarly } = limitedStore(20_000);
      for (let batch = 0n; batch < 4n; batch++) {
        await store.record(Array.from({ length: 10_000 }, (_, offset) => event(base + batch * 10_000n + BigInt(offset))), () => undefined, { allOrNothing: true });
      }
      const kept = [...store.transactions.entries()].map(([id]) => id - base);
      return { size: store.transactions.size, forgotten: forgottenEarly(), kept: [kept[0] as bigint, kept.at(-1) as bigint] };
    };
    const small = await run(1n);
    const big = await run(BIG * 1_000n);
    assert.deepEqual(big, small);
    assert.deepEqual(small, { size: 20_000, forgotten: 20_000, kept: [20_000n, 39_999n] });
  });

  it('should recognise a retry, and find an outcome, while the original is within the retention of the newest event time, to the second', async () => {
    const { store, forgottenEarly } = limitedStore(1_000);
    // The retention R: the lateness plus the terminal windows' 37 days (window and delay) and one day.
    const retention = 3600 + 38 * 86_400;
    const original = { id: 61n, customerId: 1n, terminalId: 1n, amount: 10, time: START };
    await store.record([original], () => undefined, { allOrNothing: true });
    await store.record([{ id: 62n, customerId: 2n, terminalId: 2n, amount: 10, time: START + retention }], () => undefined, { allOrNothing: true });
    assert.equal(await recordedAsDuplicate(store, original), true, 'exactly R behind the newest event time: still a retry');
    const [kept] = await store.reportOutcomes([{ transactionId: 61n, outcome: 'fraud', knownAt: START + 1 }]);
    assert.equal(kept?.status, 'applied');
    await store.record([{ id: 63n, customerId: 3n, terminalId: 3n, amount: 10, time: START + retention + 1 }], () => undefined, { allOrNothing: true });
    assert.equal(store.transactions.has(61n), false, 'one second more: forgotten');
    const [forgotten] = await store.reportOutcomes([{ transactionId: 61n, outcome: 'fraud', knownAt: START + 1 }]);
    assert.equal(forgotten?.status, 'unknown_transaction');
    assert.equal(forgottenEarly(), 0, 'forgotten by event time, not by the count limit: the promise held');
  });

  it('should still count once, and say so, a retry the index forgot for its count limit while its card holds it', async () => {
    const { store, forgottenEarly, forgottenRetries } = limitedStore(2);
    const original = { id: 71n, customerId: 1n, terminalId: 1n, amount: 10, time: START };
    await store.record([original], () => undefined, { allOrNothing: true });
    await store.record([{ id: 72n, customerId: 2n, terminalId: 2n, amount: 10, time: START + 1 }], () => undefined, { allOrNothing: true });
    await store.record([{ id: 73n, customerId: 3n, terminalId: 3n, amount: 10, time: START + 2 }], () => undefined, { allOrNothing: true });
    assert.equal(store.transactions.has(71n), false);
    assert.equal(forgottenEarly(), 1);
    assert.equal(await recordedAsDuplicate(store, original), true);
    assert.equal(forgottenRetries(), 1);
    const terminal = store.terminals.get(keyOf(1n));
    assert.equal(terminal?.days[1], 1, 'the terminal counts it once');
    assert.equal(store.transactions.has(71n), true, 'remembered again');
  });
});

import assert from 'node:assert/strict';
import { historyDays, loadFeatureSpec } from '../../src/features/featureSpec.js';
import { keyOf, MemoryStateStore } from '../../src/state/memoryStateStore.js';
import type { TransactionEvent } from '../../src/state/stateStore.js';

const DAY = 86_400;

/** Transaction `index` of a new card at a new terminal, `index` minutes after a start. */
function event(index: number, time = 1_700_000_000 + index * 60): TransactionEvent {
  return { id: BigInt(index), customerId: BigInt(10_000 + index), terminalId: BigInt(20_000 + index), amount: 10, time };
}

/** An embedded store with these limits, and the evictions it reports, by kind. */
function limitedStore(limits: { maxEntities: number; maxTransactions: number }): { store: MemoryStateStore; evicted: Record<'customer' | 'terminal' | 'transaction', number> } {
  const evicted = { customer: 0, terminal: 0, transaction: 0 };
  const store = new MemoryStateStore({
    latenessSeconds: 3600,
    historyDays: historyDays(loadFeatureSpec()),
    ...limits,
    onEvicted: (kind, count) => {
      evicted[kind] += count;
    },
  });
  return { store, evicted };
}

// FRAUD_STATE_MAX_ENTITIES and FRAUD_STATE_MAX_TRANSACTIONS, which the mutation run showed no unit or integration test reaching.
describe('the embedded store within its limits', () => {
  const spec = loadFeatureSpec();

  it('should keep at most maxEntities cards plus terminals, evicting those whose newest transaction is oldest, and say so', async () => {
    const { store, evicted } = limitedStore({ maxEntities: 10, maxTransactions: 1_000 });
    for (let index = 0; index < 12; index++) {
      await store.record([event(index)], () => undefined, { allOrNothing: true });
      assert.ok(store.customers.size + store.terminals.size <= 10, `${store.customers.size} + ${store.terminals.size} entities after ${index + 1} transactions`);
    }
    // 24 entities recorded, 10 kept: the newest five cards and their terminals.
    assert.deepEqual([...store.customers.keys()].sort(), [7, 8, 9, 10, 11].map((index) => keyOf(BigInt(10_000 + index))).sort());
    assert.deepEqual([...store.terminals.keys()].sort(), [7, 8, 9, 10, 11].map((index) => keyOf(BigInt(20_000 + index))).sort());
    assert.equal(evicted.customer + evicted.terminal, 14);
    assert.equal(evicted.transaction, 0);
  });

  it('should keep, under a flood of one-off cards, a card and a terminal with exactly 3 transactions, and evict one with 2 (probation) first', async () => {
    const { store, evicted } = limitedStore({ maxEntities: 20, maxTransactions: 1_000 });
    const start = 1_700_000_000;
    const history: TransactionEvent[] = [];
    for (let index = 0; index < 3; index++) history.push({ id: BigInt(100 + index), customerId: 1n, terminalId: 1n, amount: 10, time: start + index * DAY });
    for (let index = 0; index < 2; index++) history.push({ id: BigInt(200 + index), customerId: 2n, terminalId: 2n, amount: 10, time: start + index * DAY });
    await store.record(history, () => undefined, { allOrNothing: true });
    for (let index = 0; index < 200; index++) await store.record([event(1_000 + index, start + 3 * DAY + index)], () => undefined, { allOrNothing: true });
    assert.equal(store.customers.get(keyOf(1n))?.transactionsFrom(Number.NEGATIVE_INFINITY), 3);
    assert.equal(store.terminals.get(keyOf(1n))?.transactionsFrom(Number.NEGATIVE_INFINITY), 3);
    assert.equal(store.customers.get(keyOf(2n)), undefined);
    assert.equal(store.terminals.get(keyOf(2n)), undefined);
    assert.ok(store.customers.size + store.terminals.size <= 20);
    assert.equal(evicted.customer + evicted.terminal, 2 + 2 + 400 - 20);
  });

  it('should keep established entities to 80 % of the limit, so a newcomer is kept, sending back to probation the least recently recorded established card', async () => {
    const { store, evicted } = limitedStore({ maxEntities: 10, maxTransactions: 1_000 });
    const start = 1_700_000_000;
    const threeOf = (card: number, at: number): TransactionEvent[] =>
      [0, 1, 2].map((index) => ({ id: BigInt(card * 10 + index), customerId: BigInt(card), terminalId: 1n, amount: 10, time: at + index }));
    // Cards 1 to 8, three transactions each, at one terminal: nine established entities, over the 8 allowed: card 1 goes back.
    for (let card = 1; card <= 8; card++) await store.record(threeOf(card, start + card * 60), () => undefined, { allOrNothing: true });
    // Card 2 is recorded again; then card 9 establishes itself: card 3 is now the least recently recorded.
    await store.record([{ id: 2_000n, customerId: 2n, terminalId: 1n, amount: 10, time: start + 1_000 }], () => undefined, { allOrNothing: true });
    await store.record(threeOf(9, start + 1_100), () => undefined, { allOrNothing: true });
    assert.equal(store.stats().segments.established, 8);
    // A new card at a new terminal: two entities over the limit; cards 1 and 3 (probation) go, the newcomer stays.
    await store.record([event(500, start + 3_600)], () => undefined, { allOrNothing: true });
    assert.ok(store.customers.has(keyOf(10_500n)) && store.terminals.has(keyOf(20_500n)), 'the newcomer is kept');
    assert.deepEqual([...store.customers.keys()].sort(), [2, 4, 5, 6, 7, 8, 9, 10_500].map((id) => keyOf(BigInt(id))).sort());
    assert.equal(evicted.customer, 2);
  });

  it('should send back to probation, and evict first, a card whose transactions aged out of its 30 days', async () => {
    const { store } = limitedStore({ maxEntities: 20, maxTransactions: 1_000 });
    const start = 1_700_000_000;
    const at = (id: number, card: bigint, day: number): TransactionEvent => ({ id: BigInt(id), customerId: card, terminalId: card, amount: 10, time: start + day * DAY + id });
    // Card 1: three transactions on day 0 and one on day 20; card 2: one each on days 20 to 22.
    await store.record([at(1, 1n, 0), at(2, 1n, 0), at(3, 1n, 0), at(4, 1n, 20), at(5, 2n, 20), at(6, 2n, 21), at(7, 2n, 22)], () => undefined, { allOrNothing: true });
    assert.equal(store.stats().segments.established, 4);
    // Day 35: card 1 has one transaction left in its 30 days, card 2 three; then one-off cards over the limit.
    for (let index = 0; index < 30; index++) await store.record([event(1_000 + index, start + 35 * DAY + index)], () => undefined, { allOrNothing: true });
    assert.equal(store.customers.has(keyOf(1n)), false, 'card 1 went first');
    assert.ok(store.customers.has(keyOf(2n)), 'card 2 is kept');
  });

  it('should remember at most maxTransactions transactions, forgetting the oldest first, and say so', async () => {
    const { store, evicted } = limitedStore({ maxEntities: 1_000, maxTransactions: 5 });
    for (let index = 0; index < 8; index++) await store.record([event(index)], () => undefined, { allOrNothing: true });
    assert.equal(store.transactions.size, 5);
    assert.equal(evicted.transaction, 3);
    assert.equal(evicted.customer + evicted.terminal, 0);
  });

  it('should drop, without calling it an eviction, cards whose history no window can read any more', async () => {
    const evicted: string[] = [];
    const days = historyDays(spec);
    const store = new MemoryStateStore({ latenessSeconds: 3600, historyDays: days, maxEntities: 1_000, maxTransactions: 1_000, onEvicted: (kind) => evicted.push(kind) });
    await store.record([event(0)], () => undefined, { allOrNothing: true });
    const later = 1_700_000_000 + (Math.max(days.customer, days.terminal) + 2) * DAY;
    await store.record([event(1, later)], () => undefined, { allOrNothing: true });
    assert.deepEqual([...store.customers.keys()], [keyOf(10_001n)]);
    assert.deepEqual([...store.terminals.keys()], [keyOf(20_001n)]);
    assert.deepEqual(evicted.filter((kind) => kind !== 'transaction'), []);
  });
});

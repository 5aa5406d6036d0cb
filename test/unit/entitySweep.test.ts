import assert from 'node:assert/strict';
import { historyDays, loadFeatureSpec } from '../../src/features/featureSpec.js';
import { SWEEP_EVERY_SECONDS, SWEEP_VISITS_PER_CALL, SWEEP_VISITS_PER_TRANSACTION } from '../../src/state/entitySweep.js';
import { retentionSeconds } from '../../src/state/entityRecords.js';
import { keyOf, MemoryStateStore } from '../../src/state/memoryStateStore.js';
import type { TransactionEvent } from '../../src/state/stateStore.js';

const DAY = 86_400;
const START = 1_700_000_000;
const spec = loadFeatureSpec();

function store(maxEntities = 100_000): MemoryStateStore {
  return new MemoryStateStore({ latenessSeconds: 3_600, historyDays: historyDays(spec), maxEntities, maxTransactions: 100_000 });
}

/** Transaction `id` of card `card` at terminal `card`, at `time`. */
function at(id: number, card: number, time: number): TransactionEvent {
  return { id: BigInt(id), customerId: BigInt(card), terminalId: BigInt(card), amount: 10, time };
}

async function record(target: MemoryStateStore, events: TransactionEvent[]): Promise<void> {
  await target.record(events, () => undefined, { allOrNothing: true });
}

describe('the embedded store sweep for expired entities', () => {
  const expiredAfter = (Math.max(historyDays(spec).customer, historyDays(spec).terminal) + 2) * DAY;

  it('should drop expired cards and terminals a bounded number per call, all of them within one pass, and no live one', async () => {
    const target = store();
    const old = 1_000;
    // One batch visits the whole store, so the sweep it starts ends within it.
    await record(
      target,
      Array.from({ length: old }, (_, index) => at(index + 1, index + 1, START + index)),
    );
    assert.equal(target.customers.size, old);
    // A transaction of a new card when all of them have expired: one call visits a bounded number.
    let id = 10_000;
    const live = 5_000_000;
    const later = START + expiredAfter;
    await record(target, [at(++id, live, later)]);
    const perCall = SWEEP_VISITS_PER_CALL + SWEEP_VISITS_PER_TRANSACTION;
    // Customers come first in the sweep: the call visits its share of them, the live one perhaps among them.
    const dropped = old + 1 - target.customers.size;
    assert.ok(dropped >= perCall - 1 && dropped <= perCall, `${dropped} dropped by one call`);
    assert.equal(target.terminals.size, old + 1);
    // Single calls, less than an hour of event time apart, finish the same pass.
    const calls = Math.ceil((2 * (old + 1)) / perCall);
    for (let call = 1; call < calls; call++) await record(target, [at(++id, live, later + call)]);
    assert.deepEqual([...target.customers.keys()], [keyOf(BigInt(live))]);
    assert.deepEqual([...target.terminals.keys()], [keyOf(BigInt(live))]);
    assert.equal(target.customers.get(keyOf(BigInt(live)))?.transactionsFrom(Number.NEGATIVE_INFINITY), calls);
  });

  it('should start the next pass once event time has moved an hour from the start of the last, to the second', async () => {
    const target = store();
    const retention = retentionSeconds({ latenessSeconds: 3_600, days: historyDays(spec).customer });
    await record(target, [at(1, 1, START)]);
    // A pass starts at START + retention: card 1 is exactly at its bound, kept.
    const passStart = START + retention;
    await record(target, [at(2, 2, passStart)]);
    assert.ok(target.customers.has(keyOf(1n)), 'kept at its bound, to the second');
    // One second later card 1 has expired, but the next pass is not due until an hour after the last began.
    await record(target, [at(3, 2, passStart + 1)]);
    await record(target, [at(4, 2, passStart + SWEEP_EVERY_SECONDS - 1)]);
    assert.ok(target.customers.has(keyOf(1n)), 'no pass until an hour after the last began');
    await record(target, [at(5, 2, passStart + SWEEP_EVERY_SECONDS)]);
    assert.equal(target.customers.has(keyOf(1n)), false, 'the pass due that second drops it');
    assert.ok(target.customers.has(keyOf(2n)));
  });

  it('should put a card whose transactions aged out back among the first to evict, and a card recorded again after that behind older newcomers', async () => {
    const target = store(8);
    const days = historyDays(spec);
    // Midnight of the first day, so that the days of the windows fall where the test says.
    const midnight = Math.floor(START / DAY) * DAY;
    // Cards 1 and 2 established (3 transactions each, an hour after midnight), each at its own terminal: 4 entities.
    await record(target, [1, 2, 3].flatMap((index) => [at(index, 1, midnight + 3_600 + index), at(10 + index, 2, midnight + 3_600 + index)]));
    assert.equal(target.stats().segments.established, 4);
    // The first day the cards' windows no longer reach their day (their terminals' still do), not yet expired:
    // the first call that day reclassifies them (the store is small: one call makes the pass).
    const aged = midnight + (days.customer + 1) * DAY + 7_200;
    assert.ok(days.terminal > days.customer);
    await record(target, [at(100, 3, aged)]);
    assert.deepEqual(target.stats().segments, { probation: 4, established: 2 });
    assert.ok(target.customers.has(keyOf(1n)) && target.customers.has(keyOf(2n)), 'aged, not expired');
    // Card 1 is recorded again: it is no longer among the aged, it is the newest on probation.
    await record(target, [at(101, 1, aged + 10)]);
    // Card 4 at terminal 4 makes 8 entities; card 5 at terminal 5 two over the limit.
    await record(target, [at(102, 4, aged + 20)]);
    await record(target, [at(103, 5, aged + 30)]);
    // Evicted: card 2 (aged, never recorded again), then the least recently recorded on probation, card 3.
    assert.deepEqual([...target.customers.keys()].sort(), [1, 4, 5].map((card) => keyOf(BigInt(card))));
    assert.equal(target.customers.size + target.terminals.size, 8);
  });
});

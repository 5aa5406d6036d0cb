import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStateStore } from '../../src/state/memoryStateStore.js';
import { restoreSnapshot, writeSnapshot } from '../../src/state/stateSnapshot.js';
import type { TransactionEvent } from '../../src/state/stateStore.js';

const LATENESS = 3600;
const OPTIONS = { latenessSeconds: LATENESS, historyDays: { customer: 30, terminal: 37 }, maxEntities: 1_000, maxTransactions: 1_000 };
const SPEC_VERSION = 3;
/** 2018-04-11T10:00:00Z, a time of the vectors' era. */
const NEWEST = 1_523_440_800;

function transaction(id: number, customerId: number, time: number): TransactionEvent {
  return { id: BigInt(id), customerId: BigInt(customerId), terminalId: 7n, amount: 10, time };
}

/** The indexes a store refuses as late, recording (or not) the call as one all-or-nothing batch. */
async function lateIn(store: MemoryStateStore, events: readonly TransactionEvent[]): Promise<number[]> {
  return (await store.record(events, () => undefined, { allOrNothing: true })).map((late) => late.index);
}

describe('the embedded store restored from a snapshot keeps its watermarks', () => {
  let folder: string;
  let restored: MemoryStateStore;

  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'snapshot-watermark-'));
    const original = new MemoryStateStore(OPTIONS);
    // Customer 1's newest transaction, then one exactly the lateness behind it: the watermark is the newest.
    assert.deepEqual(await lateIn(original, [transaction(1, 1, NEWEST), transaction(2, 1, NEWEST - LATENESS)]), []);
    // Customer 2's transactions far apart: the older one is folded into its day, the watermark is the newer.
    assert.deepEqual(await lateIn(original, [transaction(3, 2, NEWEST - 3 * 86_400)]), []);
    assert.deepEqual(await lateIn(original, [transaction(4, 2, NEWEST - 86_400)]), []);
    const path = join(folder, 'state.snapshot');
    await writeSnapshot(original, path, SPEC_VERSION);
    restored = new MemoryStateStore(OPTIONS);
    await restoreSnapshot(restored, path, SPEC_VERSION);
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it("should still refuse a transaction one second more than the lateness behind its customer's newest", async () => {
    assert.deepEqual(await lateIn(restored, [transaction(10, 1, NEWEST - LATENESS - 1)]), [0]);
    assert.deepEqual(await lateIn(restored, [transaction(11, 2, NEWEST - 86_400 - LATENESS - 1)]), [0]);
  });

  it('should still refuse a whole batch for it, and accept one exactly at the bound', async () => {
    assert.deepEqual(await lateIn(restored, [transaction(12, 3, NEWEST), transaction(13, 1, NEWEST - LATENESS - 1)]), [1]);
    assert.deepEqual(await lateIn(restored, [transaction(14, 1, NEWEST - LATENESS + 1), transaction(15, 2, NEWEST - 86_400 - LATENESS)]), []);
  });

  it('should keep the newest event time of the whole store', () => {
    assert.equal(restored.stats().watermark, NEWEST);
  });

  it('should still answer a retry of a restored transaction as a duplicate, late or not', async () => {
    let duplicates = 0;
    const late = await restored.record(
      [transaction(2, 1, NEWEST - LATENESS), transaction(3, 2, NEWEST - 3 * 86_400)],
      (_index, history) => {
        if (history.duplicate) duplicates++;
      },
      { allOrNothing: true },
    );
    assert.deepEqual([late, duplicates], [[], 2]);
  });
});

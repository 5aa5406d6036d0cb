import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { historyDays, loadFeatureSpec } from '../../src/features/featureSpec.js';
import { entityBytes } from '../../src/state/entityRecords.js';
import { MemoryStateStore } from '../../src/state/memoryStateStore.js';
import { restoreSnapshot, writeSnapshot } from '../../src/state/stateSnapshot.js';
import type { TransactionEvent } from '../../src/state/stateStore.js';

const START = 1_700_000_000;
const spec = loadFeatureSpec();

function store(): MemoryStateStore {
  return new MemoryStateStore({ latenessSeconds: 3_600, historyDays: historyDays(spec), maxEntities: 300, maxTransactions: 2_000 });
}

/** What the size metric would say after a pass over every entity. */
function recounted(target: MemoryStateStore): { customer: number; terminal: number } {
  let customer = 0;
  let terminal = 0;
  for (const record of target.customers.values()) customer += record.numbers;
  for (const record of target.terminals.values()) terminal += record.numbers;
  return { customer: entityBytes('customer', target.customers.size, customer), terminal: entityBytes('terminal', target.terminals.size, terminal) };
}

function metric(target: MemoryStateStore): { customer: number; terminal: number } {
  const { customer, terminal } = target.stats().bytes;
  return { customer, terminal };
}

/** A deterministic pseudo-random sequence (the same on every machine). */
function sequence(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

describe('the embedded store size metric', () => {
  it('should equal a recount over every entity through recording, folding, outcomes and corrections, expiry, eviction and a snapshot restore', async () => {
    const target = store();
    const random = sequence(7);
    let id = 0;
    let time = START;
    const recorded: TransactionEvent[] = [];
    // 90 days: cards and terminals come and go (expiry), more than the limit of 300 at a time (eviction), late and repeated ones.
    for (let day = 0; day < 90; day++) {
      for (let index = 0; index < 40; index++) {
        time += Math.floor(random() * 4_000);
        const late = random() < 0.1 ? Math.floor(random() * 3_000) : 0;
        const event = { id: BigInt(++id), customerId: BigInt(1 + day * 5 + Math.floor(random() * 200)), terminalId: BigInt(1 + day + Math.floor(random() * 60)), amount: 1 + Math.floor(random() * 500), time: time - late };
        await target.record([event], () => undefined, { allOrNothing: false });
        recorded.push(event);
        if (random() < 0.05) await target.record([event], () => undefined, { allOrNothing: false });
      }
      // Frauds reported, some corrected to legitimate and back.
      const reports = recorded.slice(-40).filter(() => random() < 0.2);
      await target.reportOutcomes(reports.map((event) => ({ transactionId: event.id, outcome: 'fraud', knownAt: time })));
      const corrected = reports.filter(() => random() < 0.5);
      await target.reportOutcomes(corrected.map((event) => ({ transactionId: event.id, outcome: 'legitimate', knownAt: time + 1, supersedes: true })));
      await target.reportOutcomes(corrected.map((event) => ({ transactionId: event.id, outcome: 'fraud', knownAt: time + 2, supersedes: true })));
      assert.deepEqual(metric(target), recounted(target), `day ${day}`);
    }
    const stats = target.stats();
    assert.ok(stats.customers > 0 && stats.terminals > 0 && target.customers.size + target.terminals.size <= 300);
    // Restored from a snapshot: the same figures.
    const dir = await mkdtemp(join(tmpdir(), 'state-size-'));
    try {
      const path = join(dir, 'state.snapshot');
      await writeSnapshot(target, path, spec.specVersion);
      const restored = store();
      await restoreSnapshot(restored, path, spec.specVersion);
      assert.deepEqual(metric(restored), recounted(restored));
      assert.deepEqual(metric(restored), metric(target));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import assert from 'node:assert/strict';
import { historyDays, loadFeatureSpec } from '../../src/features/featureSpec.js';
import { MemoryStateStore } from '../../src/state/memoryStateStore.js';
import { playHistoryVector } from '../helpers/historyVectors.js';

describe('history features against the shared vectors (models/feature-spec.json), embedded store', () => {
  const spec = loadFeatureSpec();
  for (const vector of spec.historyVectors) {
    it(`should reproduce: ${vector.name}`, async () => {
      const store = new MemoryStateStore({
        latenessSeconds: vector.lateness_seconds,
        historyDays: historyDays(spec),
        maxEntities: 1_000_000,
        maxTransactions: 1_000_000,
      });
      await playHistoryVector(vector, spec, store);
    });
  }
});

describe('the embedded store with reused transaction ids', () => {
  const spec = loadFeatureSpec();

  it('should count an id reused at another terminal once there, retries included, and keep the first recording for outcomes', async () => {
    const store = new MemoryStateStore({ latenessSeconds: 3600, historyDays: historyDays(spec), maxEntities: 1000, maxTransactions: 1000 });
    const day = 86_400;
    const record = async (terminalId: bigint, time: number): Promise<boolean> => {
      let duplicate = false;
      await store.record([{ id: 7n, customerId: 1n, terminalId, amount: 10, time }], (_index, history) => {
        duplicate = history.duplicate;
      }, { allOrNothing: true });
      return duplicate;
    };
    assert.equal(await record(100n, day), false);
    assert.equal(await record(200n, day), false, 'a reuse at another terminal is new there');
    assert.equal(await record(200n, day), true, 'a retry of the reuse is a duplicate');
    assert.equal(await record(100n, day), true);
    const counts = (terminal: bigint): number => {
      const record = store.terminals.get(Number(terminal));
      return record === undefined ? 0 : record.days[1] ?? 0;
    };
    assert.deepEqual([counts(100n), counts(200n)], [1, 1]);
    assert.equal(store.transactions.get(7n)?.terminalId, 100n, 'outcomes name the first recording');
  });
});

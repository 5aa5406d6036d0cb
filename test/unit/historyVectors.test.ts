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

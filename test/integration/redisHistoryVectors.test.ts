import { historyDays, loadFeatureSpec } from '../../src/features/featureSpec.js';
import { playHistoryVector } from '../helpers/historyVectors.js';
import { RedisServer, startRedisStateStore, type RedisServerOptions } from '../helpers/redis.js';

const spec = loadFeatureSpec();

function vectorsAgainst(what: string, options: RedisServerOptions): void {
  describe(`history features against the shared vectors (models/feature-spec.json), Redis store, ${what}`, () => {
    let redis: RedisServer;

    before(async () => {
      redis = await RedisServer.start(options);
    });

    after(async () => {
      await redis.stop();
    });

    for (const [number, vector] of spec.historyVectors.entries()) {
      it(`should reproduce: ${vector.name}`, async () => {
        const store = await startRedisStateStore(redis, {
          timeoutMs: 2_000,
          keyPrefix: `vector${number}:`,
          latenessSeconds: vector.lateness_seconds,
          historyDays: historyDays(spec),
        });
        try {
          await playHistoryVector(vector, spec, store);
        } finally {
          await store.close();
        }
      });
    }
  });
}

vectorsAgainst('standalone', {});
// In cluster mode Redis refuses a script that touches keys of two slots (CROSSSLOT), so this
// proves every script and command keeps to one slot, whatever the keys hash to.
vectorsAgainst('in cluster mode (one node serving every slot)', { cluster: true });

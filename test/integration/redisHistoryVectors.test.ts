import { historyDays, loadFeatureSpec } from '../../src/features/featureSpec.js';
import { createLogger } from '../../src/observability/logger.js';
import { RedisStateStore } from '../../src/state/redisStateStore.js';
import { playHistoryVector } from '../helpers/historyVectors.js';
import { RedisServer, type RedisServerOptions } from '../helpers/redis.js';

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
        const store = new RedisStateStore({
          url: redis.url,
          password: undefined,
          timeoutMs: 2_000,
          keyPrefix: `vector${number}:`,
          latenessSeconds: vector.lateness_seconds,
          maxFutureSeconds: 300,
          historyDays: historyDays(spec),
          logger: createLogger('silent'),
        });
        store.start();
        await store.ready;
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

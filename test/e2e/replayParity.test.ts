import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FraudClient } from '../../client/fraudClient.js';
import { RedisServer } from '../helpers/redis.js';
import { fixture } from '../helpers/paths.js';
import { feed, simulatedReplay, type Replay } from '../helpers/replay.js';
import { startTestService } from '../helpers/testService.js';

/**
 * Every feature the model saw for every transaction, compared with the offline
 * pipeline's (which computes every spec feature); the mismatches, described.
 */
function mismatches(replay: Replay, seen: ReadonlyMap<number, Record<string, number>>): string[] {
  const problems: string[] = [];
  for (const [id, expected] of replay.features) {
    const actual = seen.get(id);
    if (actual === undefined) {
      problems.push(`transaction ${id}: not scored`);
      continue;
    }
    if (Object.keys(actual).length === 0) problems.push(`transaction ${id}: no features explained`);
    for (const [name, got] of Object.entries(actual)) {
      const value = expected[name];
      if (value === undefined || Math.abs(got - value) > replay.tolerance) problems.push(`transaction ${id}: ${name} is ${got}, offline ${value}`);
    }
  }
  return problems;
}

function replayParitySuite(store: string, env: () => Record<string, string>, prepare?: () => Promise<void>): void {
  it(`should give, in the ${store} store, every transaction the features the offline pipeline computes (to 1e-6)`, async function () {
    this.timeout(600_000);
    await prepare?.();
    const folder = await mkdtemp(join(tmpdir(), 'fraud-replay-'));
    try {
      // A period simulated with a seed no test or model uses, 2 % of its outcomes corrected later.
      const replay = await simulatedReplay(folder, ['--seed', '99', '--customers', '600', '--terminals', '1200', '--days', '50', '--corrections', '0.02']);
      const service = await startTestService({ FRAUD_MAX_BATCH_SIZE: '10000', ...env() });
      const client = new FraudClient({ address: service.address, deadlineMs: 120_000, retry: { attempts: 1 } });
      try {
        const seen = await feed(client, replay.events);
        const problems = mismatches(replay, seen);
        const outcomes = replay.events.filter((event) => event.outcome !== undefined).length;
        console.log(`      ${replay.features.size} transactions, ${outcomes} outcomes replayed; ${problems.length} features differ from the offline pipeline's`);
        assert.deepEqual(problems.slice(0, 10), []);
      } finally {
        client.close();
        await service.stop();
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
}

describe('replay parity: online features equal the offline pipeline\'s', () => {
  let redis: RedisServer | undefined;
  after(async () => {
    await redis?.stop();
  });

  replayParitySuite('embedded', () => ({ FRAUD_STATE_STORE: 'memory' }));
  // The bundled models take the latest fraud streak; a version-2 model (the v2 streak) keeps that one checked too.
  replayParitySuite('embedded (a version-2 model)', () => ({ FRAUD_STATE_STORE: 'memory', FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32') }));
  replayParitySuite('Redis', () => ({ FRAUD_STATE_STORE: 'redis', FRAUD_REDIS_URL: (redis as RedisServer).url, FRAUD_REDIS_TIMEOUT_MS: '5000' }), async () => {
    redis = await RedisServer.start();
  });
});

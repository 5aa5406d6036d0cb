import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { FraudCallError, FraudClient, type TransactionInput } from '../../client/fraudClient.js';
import { fixture } from '../helpers/paths.js';
import { RedisServer } from '../helpers/redis.js';
import { sample, scrape } from '../helpers/scrape.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { waitFor } from '../helpers/waitFor.js';

const DAY = 86_400;
const TIMEOUT_MS = 200;
/** The deadline every call of these tests gets: the store's timeout plus a margin. No call may need more. */
const DEADLINE_MS = TIMEOUT_MS + 800;
const PASSWORD = 'redis-secret-7d41c9e2';

function redisEnv(redis: RedisServer, extra: Record<string, string> = {}): Record<string, string> {
  return {
    FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'),
    FRAUD_STATE_STORE: 'redis',
    FRAUD_REDIS_URL: redis.url,
    FRAUD_REDIS_PASSWORD: PASSWORD,
    FRAUD_REDIS_TIMEOUT_MS: String(TIMEOUT_MS),
    ...extra,
  };
}

/** What a load loop saw: answers and failures, each with when the call started and ended. */
interface Outcome {
  readonly started: number;
  readonly ended: number;
  readonly error: FraudCallError | undefined;
}

/** Calls a load loop makes at most, so that a service failing at once cannot run a test away. */
const MAX_CALLS = 50_000;

/**
 * Predict calls as fast as `concurrency` loops allow, each a new transaction
 * of one of 500 customers, time moving forward, until stopped (or MAX_CALLS).
 */
class PredictLoad {
  readonly outcomes: Outcome[] = [];
  private running = true;
  private next = 0;
  private readonly loops: Promise<void>[];

  constructor(
    private readonly client: FraudClient,
    private readonly firstId: number,
    concurrency = 8,
  ) {
    this.loops = Array.from({ length: concurrency }, () => this.loop());
  }

  /** Calls that started at `since` or later, whatever their outcome. */
  started(since: number): number {
    return this.outcomes.filter((outcome) => outcome.started >= since).length;
  }

  count(what: 'ok' | 'failed', since = 0): number {
    return this.outcomes.filter((outcome) => outcome.started >= since && (outcome.error === undefined) === (what === 'ok')).length;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    while (this.running && this.next < MAX_CALLS) {
      const n = this.next++;
      const started = Date.now();
      try {
        await this.client.predict({ transactionId: this.firstId + n, customerId: 1 + (n % 500), terminalId: 1 + (n % 50), txAmount: 20 + (n % 100), txTimeSeconds: 5 * DAY + n });
        this.outcomes.push({ started, ended: Date.now(), error: undefined });
      } catch (error) {
        assert.ok(error instanceof FraudCallError, String(error));
        this.outcomes.push({ started, ended: Date.now(), error });
      }
    }
  }
}

function logged(service: SpawnedService, message: string): number {
  return service.logs.filter((record) => record.msg === message).length;
}

/** Every failure is the store's UNAVAILABLE, given within the deadline: none ran out of time. */
function assertFailedFast(outcomes: readonly Outcome[]): void {
  const unexpected = outcomes.filter((outcome) => outcome.error !== undefined && !(outcome.error.code === status.UNAVAILABLE && /history store is unavailable/.test(outcome.error.details)));
  assert.deepEqual(
    unexpected.map((outcome) => outcome.error?.message),
    [],
    'every failure is UNAVAILABLE from the history store, within the deadline (no DEADLINE_EXCEEDED)',
  );
}

describe('the Redis state store with the service as its own process, a real redis-server', function () {
  this.timeout(120_000);
  let redis: RedisServer;

  beforeEach(async () => {
    redis = await RedisServer.start({ password: PASSWORD });
  });

  afterEach(async () => {
    await redis.stop();
  });

  it('should give two processes on one Redis the same features as one process, for one customer scored alternately through both', async () => {
    const one = await spawnService(redisEnv(redis, { FRAUD_REDIS_KEY_PREFIX: 'one:' }));
    const first = await spawnService(redisEnv(redis, { FRAUD_REDIS_KEY_PREFIX: 'two:' }));
    const second = await spawnService(redisEnv(redis, { FRAUD_REDIS_KEY_PREFIX: 'two:' }));
    const clients = [one, first, second].map((service) => new FraudClient({ address: service.address, deadlineMs: 5_000, retry: { attempts: 1 } }));
    const [single, alternate1, alternate2] = clients as [FraudClient, FraudClient, FraudClient];
    try {
      await Promise.all([one, first, second].map((service) => service.waitForLog('serving')));
      // One customer over 40 days at 4 terminals, some out of order (within the lateness), a retry,
      // and frauds reported at two terminals; other customers keep the terminals busy.
      const steps: ({ transaction: TransactionInput } | { fraud: number; knownAtSeconds: number })[] = [];
      const customerTransaction = (n: number): TransactionInput => ({
        transactionId: 10_000 + n,
        customerId: 77,
        terminalId: 1 + (n % 4),
        txAmount: 10 + ((n * 37) % 300),
        // Every seventh arrives half an hour before the one recorded just before it.
        txTimeSeconds: Math.round(n * 0.7 * DAY) + (n % 7 === 6 ? -Math.round(0.7 * DAY) - 1800 : 0),
      });
      for (let n = 0; n < 60; n++) {
        const transaction = customerTransaction(n);
        steps.push({ transaction });
        steps.push({ transaction: { transactionId: 20_000 + n, customerId: 1000 + n, terminalId: 1 + ((n + 1) % 4), txAmount: 5, txTimeSeconds: Number(transaction.txTimeSeconds) + 60 } });
        if (n % 9 === 4) steps.push({ transaction: customerTransaction(n - 1) });
        if (n % 10 === 5) steps.push({ fraud: 20_000 + n, knownAtSeconds: Number(transaction.txTimeSeconds) + 2 * DAY });
      }
      const features = async (alternating: boolean): Promise<Record<string, number>[]> => {
        const seen: Record<string, number>[] = [];
        for (const [position, step] of steps.entries()) {
          const client = alternating ? (position % 2 === 0 ? alternate1 : alternate2) : single;
          if ('fraud' in step) {
            await client.reportOutcome({ transactionId: step.fraud, outcome: 'fraud', knownAtSeconds: step.knownAtSeconds });
            continue;
          }
          const answer = await client.predict(step.transaction, { explain: true });
          if (step.transaction.customerId === 77) seen.push(answer.features);
        }
        return seen;
      };
      const expected = await features(false);
      const actual = await features(true);
      assert.equal(actual.length, 67);
      assert.ok(expected.some((entry) => (entry.TERMINAL_ID_RISK_30DAY_WINDOW ?? 0) > 0), 'the frauds count in some terminal risk');
      assert.ok(expected.some((entry) => (entry.CUSTOMER_ID_NB_TX_7DAY_WINDOW ?? 0) > 5), 'the customer windows fill');
      assert.deepEqual(actual, expected);
    } finally {
      for (const client of clients) client.close();
      await Promise.all([one, first, second].map((service) => service.kill()));
    }
  });

  it('should fail calls fast with UNAVAILABLE while Redis is killed under load, score nothing without it, stay SERVING, and recover by itself', async () => {
    const service = await spawnService(redisEnv(redis));
    const client = new FraudClient({ address: service.address, deadlineMs: DEADLINE_MS, retry: { attempts: 1 } });
    try {
      await service.waitForLog('serving');
      // History before the outage: it is lost with a Redis that keeps nothing on disk.
      const load = new PredictLoad(client, 1_000_000);
      await waitFor('calls before the outage', () => load.count('ok') >= 200, 30_000);
      await redis.kill();
      const down = Date.now();
      let pendingPeak = 0;
      await waitFor(
        'calls during the outage',
        async () => {
          pendingPeak = Math.max(pendingPeak, sample(await scrape(service.metricsPort), 'fraud_state_redis_pending_commands') ?? 0);
          return load.started(down) >= 200;
        },
        30_000,
        50,
      );
      const health = await client.checkHealth('fraud.v1.FraudService');
      const during = await scrape(service.metricsPort);
      const resumed = Date.now();
      await redis.resume();
      await waitFor('calls to succeed again', () => load.count('ok', Date.now() - 100) > 0 && load.count('ok', resumed) >= 50, 30_000);
      await load.stop();
      const scoredWithoutRedis = load.outcomes.filter((outcome) => outcome.error === undefined && outcome.started > down && outcome.ended < resumed);
      console.log(
        `      Redis killed: ${load.count('failed', down)} calls failed fast, ${scoredWithoutRedis.length} scored without it, ${pendingPeak} commands waited at most; ` +
          `${load.count('ok', resumed)} succeeded after it came back`,
      );
      assertFailedFast(load.outcomes);
      assert.deepEqual(scoredWithoutRedis, [], 'no call that started after Redis died and ended before it came back was scored');
      assert.ok(pendingPeak < 100, `${pendingPeak} commands waited for a dead Redis: calls must fail at once, not queue`);
      assert.equal(health, 'SERVING', 'a Redis outage does not take the replica out of the Service');
      assert.equal(sample(during, 'fraud_state_store_up{store="redis"}'), 0);
      assert.ok((sample(during, 'fraud_state_errors_total{store="redis",reason="unavailable"}') ?? 0) >= 200);
      assert.equal(sample(await scrape(service.metricsPort), 'fraud_state_store_up{store="redis"}'), 1);
      assert.equal(logged(service, 'Redis unavailable: history calls fail with UNAVAILABLE until it answers'), 1, 'one warning per outage');
      assert.equal(logged(service, 'Redis available again'), 1, 'one line on recovery');
      assert.ok(!JSON.stringify(service.logs).includes(PASSWORD) && !service.stderr.join('').includes(PASSWORD), 'the password is never logged');
    } finally {
      client.close();
      await service.kill();
    }
  });

  it('should fail calls fast with UNAVAILABLE while Redis is frozen under load, keep what waits for it bounded, and keep its history', async () => {
    const service = await spawnService(redisEnv(redis));
    const client = new FraudClient({ address: service.address, deadlineMs: DEADLINE_MS, retry: { attempts: 1 } });
    try {
      await service.waitForLog('serving');
      const before = await client.predict({ transactionId: 1, customerId: 100_009, terminalId: 100_009, txAmount: 40, txTimeSeconds: 3 * DAY }, { explain: true });
      assert.equal(before.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 1);
      const load = new PredictLoad(client, 2_000_000);
      await waitFor('calls before the freeze', () => load.count('ok') >= 200, 30_000);
      redis.freeze();
      const frozen = Date.now();
      let pendingPeak = 0;
      await waitFor(
        'calls while Redis is frozen',
        async () => {
          pendingPeak = Math.max(pendingPeak, sample(await scrape(service.metricsPort), 'fraud_state_redis_pending_commands') ?? 0);
          return load.started(frozen) >= 300;
        },
        60_000,
        50,
      );
      const health = await client.checkHealth('fraud.v1.FraudService');
      const timeouts = sample(await scrape(service.metricsPort), 'fraud_state_errors_total{store="redis",reason="timeout"}') ?? 0;
      const thawed = Date.now();
      redis.thaw();
      await waitFor('calls to succeed again', () => load.count('ok', thawed) >= 50, 30_000);
      await load.stop();
      const after = await client.predict({ transactionId: 2, customerId: 100_009, terminalId: 100_009, txAmount: 60, txTimeSeconds: 3 * DAY + 60 }, { explain: true });
      const scoredWhileFrozen = load.outcomes.filter((outcome) => outcome.error === undefined && outcome.started > frozen && outcome.ended < thawed);
      console.log(`      Redis frozen: ${load.count('failed', frozen)} calls failed fast, ${scoredWhileFrozen.length} scored without it; at most ${pendingPeak} commands waited for Redis`);
      assertFailedFast(load.outcomes);
      assert.deepEqual(scoredWhileFrozen, [], 'no call was scored while Redis was frozen');
      assert.equal(health, 'SERVING');
      assert.ok(timeouts > 0, 'the first calls waited for the timeout');
      // Calls wait at most the timeout, 8 at a time: about 40 a second, 3 commands each. A connection that
      // hears nothing for 10 x the timeout is dropped, and its commands with it: about 240 at most.
      assert.ok(pendingPeak < 500, `${pendingPeak} commands waited for a frozen Redis: they must not pile up`);
      assert.equal(after.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 2, 'the history recorded before the freeze is still there');
      assert.equal(logged(service, 'Redis unavailable: history calls fail with UNAVAILABLE until it answers'), 1, 'one warning per outage');
      assert.equal(logged(service, 'Redis available again'), 1, 'one line on recovery');
    } finally {
      redis.thaw();
      client.close();
      await service.kill();
    }
  });

  it('should stay NOT_SERVING while Redis is unreachable at start, answer UNAVAILABLE, and serve once it answers', async () => {
    await redis.kill();
    const service = await spawnService(redisEnv(redis));
    const client = new FraudClient({ address: service.address, deadlineMs: DEADLINE_MS, retry: { attempts: 1 } });
    try {
      const warning = await service.waitForLog('Redis unreachable at start: history calls fail with UNAVAILABLE until it answers');
      assert.equal(warning.level, 'warn');
      assert.equal(warning.redis, redis.url);
      await waitFor('both models loaded', () => service.logs.filter((record) => record.msg === 'model loaded').length === 2, 30_000);
      assert.equal(await client.checkHealth('fraud.v1.FraudService'), 'NOT_SERVING');
      await assert.rejects(client.predict({ transactionId: 1, customerId: 1, terminalId: 1, txAmount: 5, txTimeSeconds: 3600 }), (error: unknown) => {
        assert.ok(error instanceof FraudCallError && error.code === status.UNAVAILABLE, String(error));
        assert.match(error.details, /^the history store is unavailable; retry with backoff \(not connected to Redis/);
        return true;
      });
      await redis.resume();
      await waitFor('SERVING once Redis answers', async () => (await client.checkHealth('fraud.v1.FraudService')) === 'SERVING', 30_000);
      await client.predict({ transactionId: 1, customerId: 1, terminalId: 1, txAmount: 5, txTimeSeconds: 3600 });
      assert.equal(logged(service, 'Redis connected: history store ready'), 1);
    } finally {
      client.close();
      await service.kill();
    }
  });

  it('should say clearly that Redis refused the password, never show it, and stay NOT_SERVING', async () => {
    const wrong = 'not-the-password-5b2e8f';
    const service = await spawnService(redisEnv(redis, { FRAUD_REDIS_PASSWORD: wrong }));
    const client = new FraudClient({ address: service.address, deadlineMs: DEADLINE_MS, retry: { attempts: 1 } });
    try {
      const refusal = await service.waitForLog('Redis refused the credentials: check FRAUD_REDIS_PASSWORD; history calls fail with UNAVAILABLE until it accepts them');
      assert.equal(refusal.level, 'error');
      assert.match(String(refusal.error), /WRONGPASS/);
      await waitFor('both models loaded', () => service.logs.filter((record) => record.msg === 'model loaded').length === 2, 30_000);
      assert.equal(await client.checkHealth(''), 'NOT_SERVING');
      await assert.rejects(client.predict({ transactionId: 1, customerId: 1, terminalId: 1, txAmount: 5, txTimeSeconds: 3600 }), (error: unknown) => {
        assert.ok(error instanceof FraudCallError && error.code === status.UNAVAILABLE, String(error));
        return true;
      });
      // Reconnection goes on (a Secret fixed and a rollout later, or Redis's password changed back); the log does not repeat.
      const connections = async (): Promise<number> => Number(/total_connections_received:(\d+)/.exec(await redis.command('INFO', 'stats'))?.[1] ?? 0);
      await waitFor('a few more attempts', async () => (await connections()) >= 6, 30_000);
      assert.equal(logged(service, 'Redis refused the credentials: check FRAUD_REDIS_PASSWORD; history calls fail with UNAVAILABLE until it accepts them'), 1);
      const everything = JSON.stringify(service.logs) + service.stderr.join('');
      assert.ok(!everything.includes(wrong), 'the password is never logged');
    } finally {
      client.close();
      await service.kill();
    }
  });
});

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { RedisSentinelGroup } from '../helpers/redis.js';
import { fixture } from '../helpers/paths.js';
import { startTestService, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const DAY = 86_400;
const CARD = 7;

function sentinelEnv(group: RedisSentinelGroup): Record<string, string> {
  return {
    FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'),
    FRAUD_STATE_STORE: 'redis',
    FRAUD_REDIS_SENTINELS: group.sentinels,
    FRAUD_REDIS_SENTINEL_NAME: group.name,
    FRAUD_REDIS_SENTINEL_PASSWORD: group.sentinelPassword,
    FRAUD_REDIS_PASSWORD: group.password,
    FRAUD_REDIS_KEY_PREFIX: 'sentinel:',
    FRAUD_REDIS_TIMEOUT_MS: '1000',
  };
}

/** Probes on new cards until one is scored (calls fail UNAVAILABLE meanwhile); how many failed. */
async function untilScoring(service: TestService): Promise<number> {
  let probe = 0;
  await waitFor('a scoring call to succeed on the promoted replica', async () => {
    probe++;
    try {
      await service.client.predict({ transactionId: 1_000 + probe, customerId: 1_000 + probe, terminalId: 9, txAmount: 5, txTimeSeconds: 5 * DAY + 100 });
      return true;
    } catch {
      return false;
    }
  }, 60_000, 50);
  return probe - 1;
}

/** 20 transactions of CARD, then the replica caught up (Redis replicates asynchronously; the tests are about the service). */
async function recordCard(service: TestService, group: RedisSentinelGroup): Promise<void> {
  const batch = Array.from({ length: 20 }, (_, n) => ({ transactionId: 1 + n, customerId: CARD, terminalId: 1 + (n % 5), txAmount: 20, txTimeSeconds: 5 * DAY + n }));
  assert.equal((await service.client.predictBatch(batch)).predictions.length, 20);
  assert.ok(Number(await group.command(group.primaryPort, 'DBSIZE')) > 0, 'the history is on the primary the Sentinel names');
  await group.waitInSync();
}

/** The card's next transaction sees all 20 recorded before the failover, and itself. */
async function assertCardKept(service: TestService): Promise<void> {
  const next = await service.client.predict({ transactionId: 21, customerId: CARD, terminalId: 1, txAmount: 20, txTimeSeconds: 5 * DAY + 20 }, { explain: true });
  assert.equal(next.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 21);
}

describe('the service on Redis Sentinel (a primary, a replica, one Sentinel)', function () {
  this.timeout(120_000);
  let group: RedisSentinelGroup;
  let service: TestService | undefined;
  before(async () => {
    group = await RedisSentinelGroup.start();
  });
  after(async () => {
    await service?.stop();
    await group.stop();
  });

  for (const [what, env, expected] of [
    ['a primary name the Sentinel does not monitor', { FRAUD_REDIS_SENTINEL_NAME: 'no-such-primary' }, /monitors no primary named "no-such-primary": check FRAUD_REDIS_SENTINEL_NAME$/],
    ['a wrong Sentinel password', { FRAUD_REDIS_SENTINEL_PASSWORD: 'wrong' }, /refused its credentials: check FRAUD_REDIS_SENTINEL_PASSWORD$/],
  ] as const) {
    it(`should say which variable is wrong, once, for ${what}, and not serve history`, async () => {
      const correct = {
        FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'),
        FRAUD_STATE_STORE: 'redis',
        FRAUD_REDIS_SENTINELS: group.sentinels,
        FRAUD_REDIS_SENTINEL_NAME: group.name,
        FRAUD_REDIS_SENTINEL_PASSWORD: group.sentinelPassword,
        FRAUD_REDIS_PASSWORD: group.password,
      };
      const misconfigured = await startTestService({ ...correct, ...env });
      try {
        const said = (): number => misconfigured.logs.filter((line) => line.component === 'redis' && typeof line.error === 'string' && expected.test(line.error)).length;
        await waitFor('the log line naming the variable', () => said() > 0, 30_000);
        assert.equal(said(), 1);
        assert.equal(misconfigured.logs.filter((line) => line.component === 'redis' && line.level === 'warn').length, 1, 'one line for the outage');
        assert.notEqual(await misconfigured.client.checkHealth(''), 'SERVING');
      } finally {
        await misconfigured.stop();
      }
    });
  }

  it('should find the primary through the Sentinel, and after the primary is killed use the promoted replica without a restart, history kept', async () => {
    service = await startTestService(sentinelEnv(group));
    const client = service.client;
    await waitFor('SERVING', async () => (await client.checkHealth('')) === 'SERVING', 30_000);
    await recordCard(service, group);

    const killed = performance.now();
    await group.kill(group.primaryPort);
    await waitFor('the Sentinel to promote the replica', async () => (await group.primaryAsSentinelSays()) === group.replicaPort, 60_000, 50);
    const promoted = performance.now();
    const failed = await untilScoring(service);
    const answering = performance.now();
    // Figures for docs/history.md, not assertions.
    console.log(`      promoted ${Math.round(promoted - killed)} ms after the kill; calls succeeded again after ${Math.round(answering - killed)} ms (${failed} probes failed)`);

    await assertCardKept(service);
    assert.equal(await client.checkHealth(''), 'SERVING');
    // The outage was said, once, and its end; the log names the Sentinel set, never a password.
    const redisLines = service.logs.filter((line) => line.component === 'redis');
    assert.equal(redisLines.filter((line) => line.level === 'warn').length, 1);
    assert.equal(redisLines.filter((line) => line.msg === 'Redis available again').length, 1);
    assert.ok(redisLines.every((line) => line.redis === `sentinel:${group.name}`));
    const logged = JSON.stringify(service.logs);
    assert.ok(!logged.includes(group.password) && !logged.includes(group.sentinelPassword), 'no password in the logs');
  });

  it('should follow a planned failover (SENTINEL FAILOVER: the old primary demoted, not dead) without a restart, history kept', async () => {
    const planned = await RedisSentinelGroup.start();
    const moved = await startTestService(sentinelEnv(planned));
    try {
      await waitFor('SERVING', async () => (await moved.client.checkHealth('')) === 'SERVING', 30_000);
      await recordCard(moved, planned);
      await planned.sentinelCommand(planned.sentinelPorts[0] as number, 'SENTINEL', 'FAILOVER', planned.name);
      await waitFor('the Sentinel to promote the replica', async () => (await planned.primaryAsSentinelSays()) === planned.replicaPort, 60_000, 50);
      // The old primary still answers, as a replica: writes sent there fail READONLY until the service moves.
      await untilScoring(moved);
      await assertCardKept(moved);
    } finally {
      await moved.stop();
      await planned.stop();
    }
  });

  it('should leave a frozen primary (its connection open, silent) for the promoted replica as soon as the Sentinel announces it', async () => {
    const hung = await RedisSentinelGroup.start();
    // A long timeout: the connection to the frozen primary would be dropped for silence only after 100 s.
    const moved = await startTestService({ ...sentinelEnv(hung), FRAUD_REDIS_TIMEOUT_MS: '10000' });
    try {
      await waitFor('SERVING', async () => (await moved.client.checkHealth('')) === 'SERVING', 30_000);
      await recordCard(moved, hung);
      hung.freeze(hung.primaryPort);
      await waitFor('the Sentinel to promote the replica', async () => (await hung.primaryAsSentinelSays()) === hung.replicaPort, 60_000, 50);
      await untilScoring(moved);
      await assertCardKept(moved);
    } finally {
      await moved.stop();
      await hung.stop();
    }
  });
});

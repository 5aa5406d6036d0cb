import assert from 'node:assert/strict';
import { RedisSentinelGroup } from '../helpers/redis.js';
import { fixture } from '../helpers/paths.js';
import { startTestService, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const DAY = 86_400;
const CARD = 7;

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

  it('should find the primary through the Sentinel, and after the primary is killed use the promoted replica without a restart, history kept', async () => {
    service = await startTestService({
      FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'),
      FRAUD_STATE_STORE: 'redis',
      FRAUD_REDIS_SENTINELS: group.sentinels,
      FRAUD_REDIS_SENTINEL_NAME: group.name,
      FRAUD_REDIS_SENTINEL_PASSWORD: group.sentinelPassword,
      FRAUD_REDIS_PASSWORD: group.password,
      FRAUD_REDIS_KEY_PREFIX: 'sentinel:',
      FRAUD_REDIS_TIMEOUT_MS: '1000',
    });
    const client = service.client;
    await waitFor('SERVING', async () => (await client.checkHealth('')) === 'SERVING', 30_000);

    // 20 transactions of one card, recorded on the primary.
    const batch = Array.from({ length: 20 }, (_, n) => ({ transactionId: 1 + n, customerId: CARD, terminalId: 1 + (n % 5), txAmount: 20, txTimeSeconds: 5 * DAY + n }));
    assert.equal((await client.predictBatch(batch)).predictions.length, 20);
    assert.ok(Number(await group.command(group.primaryPort, 'DBSIZE')) > 0, 'the history is on the primary the Sentinel names');
    // Redis replicates asynchronously: the test is about the service, so the replica has it all before the kill.
    await group.waitInSync();

    await group.kill(group.primaryPort);
    await waitFor('the Sentinel to promote the replica', async () => (await group.primaryAsSentinelSays()) === group.replicaPort, 60_000, 50);

    // Answering again without a restart: probes on other cards until one succeeds (calls fail UNAVAILABLE meanwhile).
    let probe = 0;
    await waitFor('a scoring call to succeed on the promoted replica', async () => {
      probe++;
      try {
        await client.predict({ transactionId: 1_000 + probe, customerId: 1_000 + probe, terminalId: 9, txAmount: 5, txTimeSeconds: 5 * DAY + 100 });
        return true;
      } catch {
        return false;
      }
    }, 60_000, 50);

    // The card's history recorded before the kill is all there.
    const next = await client.predict({ transactionId: 21, customerId: CARD, terminalId: 1, txAmount: 20, txTimeSeconds: 5 * DAY + 20 }, { explain: true });
    assert.equal(next.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 21);
    assert.equal(await client.checkHealth(''), 'SERVING');
  });
});

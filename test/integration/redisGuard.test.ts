import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { FraudCallError } from '../../client/fraudClient.js';
import { HealthCheckResponse_ServingStatus as Serving, HealthClient, type HealthCheckResponse } from '../../src/gen/grpc/health/v1/health.js';
import { fixture } from '../helpers/paths.js';
import { RedisServer } from '../helpers/redis.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, transaction, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const SERVICE = 'fraud.v1.FraudService';
const TASKS = [`${SERVICE}/binary`, `${SERVICE}/multiclass`];
const HISTORY = `${SERVICE}/history`;
const EVICTING_POLICIES = ['allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl'];
const LOSS_LOG = /^Redis lost the history this service wrote/;

function redisEnv(redis: RedisServer, more: Record<string, string> = {}): Record<string, string> {
  // A generous round-trip timeout: these tests are about what Redis says, not about a busy machine's latency.
  return { FRAUD_STATE_STORE: 'redis', FRAUD_REDIS_URL: redis.url, FRAUD_REDIS_KEY_PREFIX: 'guard:', FRAUD_REDIS_TIMEOUT_MS: '1000', ...more };
}

/** The health status of every name, as grpc.health.v1 Check answers it. */
async function statuses(address: string, names: readonly string[]): Promise<Record<string, string>> {
  const client = new HealthClient(address, credentials.createInsecure());
  try {
    const entries = await Promise.all(
      names.map(
        (name) =>
          new Promise<[string, string]>((resolveCheck, rejectCheck) => {
            client.check({ service: name }, (error: ServiceError | null, response: HealthCheckResponse) => {
              if (error) rejectCheck(error);
              else resolveCheck([name, Serving[response.status]]);
            });
          }),
      ),
    );
    return Object.fromEntries(entries);
  } finally {
    client.close();
  }
}

function waitForHealth(running: TestService, expected: Record<string, string>, timeoutMs = 15_000): Promise<true> {
  return waitFor(
    `health ${JSON.stringify(expected)}`,
    async () => {
      const now = await statuses(running.address, Object.keys(expected));
      return Object.entries(expected).every(([name, wanted]) => now[name] === wanted);
    },
    timeoutMs,
  );
}

/** Event time `seconds` after the simulator's epoch, both fields set. */
function at(seconds: number): { txTimeSeconds: number; txTimeDays: number } {
  return { txTimeSeconds: seconds, txTimeDays: Math.floor(seconds / 86_400) };
}

function all(names: readonly string[], status: string): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, status]));
}

function logged(running: TestService, message: string | RegExp): number {
  return running.logs.filter((record) => (typeof message === 'string' ? record.msg === message : message.test(record.msg))).length;
}

async function metric(running: TestService, series: string): Promise<number | undefined> {
  return sample(await scrape(running.service.metricsPort), series);
}

/** Waits until the guard has completed `count` more checks (its timestamp gauge moves on each). */
async function checksGoneBy(running: TestService, count: number): Promise<void> {
  let last = await metric(running, 'fraud_state_redis_last_check_timestamp_seconds');
  let seen = 0;
  await waitFor(`${count} more Redis checks`, async () => {
    const now = await metric(running, 'fraud_state_redis_last_check_timestamp_seconds');
    if (now !== last) {
      seen++;
      last = now;
    }
    return seen >= count;
  });
}

describe('Redis that loses history: eviction policy, out of memory, a store emptied (real redis-server)', function () {
  this.timeout(120_000);
  const started: { redis: RedisServer[]; services: TestService[] } = { redis: [], services: [] };

  async function redisServer(args: readonly string[] = []): Promise<RedisServer> {
    const redis = await RedisServer.start({ args });
    started.redis.push(redis);
    return redis;
  }

  async function service(redis: RedisServer, more: Record<string, string> = {}): Promise<TestService> {
    const running = await startTestService(redisEnv(redis, more));
    started.services.push(running);
    return running;
  }

  afterEach(async () => {
    for (const running of started.services.splice(0)) await running.stop();
    for (const redis of started.redis.splice(0)) await redis.stop();
  });

  it('should serve on noeviction, create the generation marker on an empty Redis without calling it a loss, and say once that Redis does not persist', async () => {
    const redis = await redisServer();
    const running = await service(redis);
    await waitForHealth(running, { '': 'SERVING', [SERVICE]: 'SERVING', ...all(TASKS, 'SERVING'), [HISTORY]: 'SERVING' });
    const marker = await redis.admin.hgetall('guard:{generation}');
    assert.match(marker.id ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(marker.incomplete_until, undefined, 'a fresh store is not a loss');
    await running.client.predict(transaction({ transactionId: 1 }));
    const second = await service(redis);
    await waitForHealth(second, { [HISTORY]: 'SERVING' });
    assert.equal((await redis.admin.hgetall('guard:{generation}')).id, marker.id, 'a second replica adopts the marker');
    for (const replica of [running, second]) {
      assert.equal(await metric(replica, 'fraud_state_store_lost_total{store="redis"}'), 0);
      assert.equal(await metric(replica, 'fraud_state_history_incomplete{store="redis"}'), 0);
      assert.equal(logged(replica, LOSS_LOG), 0);
    }
    const node = `127.0.0.1:${redis.port}`;
    assert.equal(await metric(running, `fraud_state_redis_eviction_policy{node="${node}",policy="noeviction"}`), 1);
    assert.equal(await metric(running, 'fraud_state_redis_evicting'), 0);
    assert.equal(await metric(running, `fraud_state_redis_persistence{node="${node}",kind="aof"}`), 0);
    assert.equal(await metric(running, `fraud_state_redis_persistence{node="${node}",kind="rdb"}`), 0);
    assert.equal(logged(running, /^Redis keeps the history in memory only/), 1);
  });

  it('should refuse to start on every evicting policy, with one line naming FRAUD_REDIS_ALLOW_EVICTION and the policy, and never serve', async () => {
    const redis = await redisServer();
    for (const policy of EVICTING_POLICIES) {
      await redis.admin.config('SET', 'maxmemory-policy', policy);
      const running = await startTestService(redisEnv(redis));
      started.services.push(running);
      // Serving instead would be the bug: it ends the wait at once.
      const error = await Promise.race([running.service.fatal, waitForHealth(running, { '': 'SERVING' }, 60_000).then(() => new Error('served'))]);
      assert.equal(
        error.message,
        `FRAUD_REDIS_ALLOW_EVICTION: Redis 127.0.0.1:${redis.port} has maxmemory-policy ${policy}, which evicts history (every history key has a TTL); set maxmemory-policy noeviction, or FRAUD_REDIS_ALLOW_EVICTION=true to accept losing history`,
      );
      assert.deepEqual(await statuses(running.address, ['', SERVICE, ...TASKS]), all(['', SERVICE, ...TASKS], 'NOT_SERVING'), policy);
      await running.stop();
      started.services.pop();
    }
  });

  it('should serve on an evicting policy the operator accepted, warning once and measuring it', async () => {
    const redis = await redisServer(['--maxmemory-policy', 'allkeys-lru']);
    const running = await service(redis, { FRAUD_REDIS_ALLOW_EVICTION: 'true', FRAUD_REDIS_CHECK_SECONDS: '0.1' });
    await waitForHealth(running, { '': 'SERVING', ...all(TASKS, 'SERVING'), [HISTORY]: 'SERVING' });
    await running.client.predict(transaction());
    await checksGoneBy(running, 3);
    assert.equal(logged(running, /^Redis evicts keys under memory pressure .* accepted by FRAUD_REDIS_ALLOW_EVICTION=true/), 1);
    assert.equal(await metric(running, 'fraud_state_redis_evicting'), 1);
    assert.equal(await metric(running, `fraud_state_redis_eviction_policy{node="127.0.0.1:${redis.port}",policy="allkeys-lru"}`), 1);
  });

  it('should take the history models out of health when the policy turns evicting at run time, keep the process serving, and put them back when it is fixed', async () => {
    const redis = await redisServer();
    // The scenario model here reads only the transaction's own fields: an evicting Redis does not concern it.
    const running = await service(redis, { FRAUD_REDIS_CHECK_SECONDS: '0.1', FRAUD_SCENARIO_MODEL_URI: fixture('scenario-zipmap-f32') });
    await waitForHealth(running, { '': 'SERVING', ...all(TASKS, 'SERVING') });
    await redis.admin.config('SET', 'maxmemory-policy', 'volatile-lru');
    await waitForHealth(running, { [`${SERVICE}/binary`]: 'NOT_SERVING' });
    assert.deepEqual(
      await statuses(running.address, ['', SERVICE, HISTORY, `${SERVICE}/multiclass`]),
      all(['', SERVICE, HISTORY, `${SERVICE}/multiclass`], 'SERVING'),
      'readiness stays (Redis is shared by every replica), and so does the model without history',
    );
    assert.equal(logged(running, /^Redis now evicts keys under memory pressure/), 1);
    assert.equal(await metric(running, 'fraud_state_redis_evicting'), 1);
    assert.equal(await metric(running, `fraud_state_redis_eviction_policy{node="127.0.0.1:${redis.port}",policy="volatile-lru"}`), 1);
    assert.equal(await metric(running, `fraud_state_redis_eviction_policy{node="127.0.0.1:${redis.port}",policy="noeviction"}`), undefined);
    await redis.admin.config('SET', 'maxmemory-policy', 'noeviction');
    await waitForHealth(running, all(TASKS, 'SERVING'));
    assert.equal(await metric(running, 'fraud_state_redis_evicting'), 0);
  });

  it('should say once that CONFIG is forbidden, read the policy from INFO instead, and still refuse an evicting one', async () => {
    const redis = await redisServer(['--rename-command', 'CONFIG', '']);
    const running = await service(redis, { FRAUD_REDIS_CHECK_SECONDS: '0.1' });
    await waitForHealth(running, { '': 'SERVING', ...all(TASKS, 'SERVING'), [HISTORY]: 'SERVING' });
    await checksGoneBy(running, 3);
    const warnings = running.logs.filter((record) => /^Redis would not answer CONFIG GET/.test(record.msg));
    assert.equal(warnings.length, 1, 'said once');
    assert.match(String(warnings[0]?.refusal), /unknown command 'CONFIG'/i);
    assert.equal(await metric(running, `fraud_state_redis_unchecked{node="127.0.0.1:${redis.port}",check="CONFIG GET"}`), 1);
    assert.equal(await metric(running, `fraud_state_redis_eviction_policy{node="127.0.0.1:${redis.port}",policy="noeviction"}`), 1, 'from INFO memory');

    const evicting = await redisServer(['--rename-command', 'CONFIG', '', '--maxmemory-policy', 'allkeys-lfu']);
    const refused = await service(evicting);
    assert.match((await refused.service.fatal).message, /^FRAUD_REDIS_ALLOW_EVICTION: Redis .* has maxmemory-policy allkeys-lfu/);
  });

  it('should serve, and say once, when Redis refuses the generation marker (an ACL), so that unnoticed losses are not a surprise', async () => {
    const redis = await redisServer(['--user', 'default', 'on', 'nopass', '~*', '&*', '+@all', '-hset']);
    const running = await service(redis, { FRAUD_REDIS_CHECK_SECONDS: '0.1' });
    await waitForHealth(running, { '': 'SERVING', ...all(TASKS, 'SERVING'), [HISTORY]: 'SERVING' });
    await running.client.predict(transaction());
    await checksGoneBy(running, 3);
    const warnings = running.logs.filter((record) => record.msg === 'Redis refused the generation marker: a Redis that loses its data is not noticed');
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0]?.refusal), /can't run this command/);
    assert.equal(await metric(running, `fraud_state_redis_unchecked{node="127.0.0.1:${redis.port}",check="generation marker"}`), 1);
  });

  it('should report Redis out of memory in health and metrics while writes are refused, and serve again once memory is freed', async () => {
    const redis = await redisServer(['--maxmemory', '4mb', '--maxmemory-policy', 'noeviction']);
    // No periodic check within the test: the refused call tells of the memory, and Redis is checked every second until it recovers.
    const running = await service(redis, { FRAUD_REDIS_CHECK_SECONDS: '3600' });
    await waitForHealth(running, { '': 'SERVING', ...all(TASKS, 'SERVING') });
    await running.client.predict(transaction());
    // Fill Redis to its maxmemory in small steps, as a growing history would.
    const filler = 'x'.repeat(4096);
    let fillers = 0;
    await waitFor(
      'Redis to refuse a write for memory',
      async () => {
        try {
          await redis.admin.set(`filler:${fillers}`, filler);
          fillers++;
          return false;
        } catch (error) {
          return error instanceof Error && error.message.startsWith('OOM');
        }
      },
      30_000,
      0,
    );
    // Well past the limit, so that what Redis's own buffers add and free cannot bring it back below it by chance.
    const used = Number(/used_memory:(\d+)/.exec(await redis.admin.info('memory'))?.[1]);
    const limit = used - 256 * 1024;
    await redis.admin.config('SET', 'maxmemory', String(limit));
    // (A busy machine may time a call out first: the refusal for memory is the one waited for.)
    const refusal = await waitFor('a scoring call refused for memory', async (): Promise<unknown> => {
      try {
        await running.client.predict(transaction());
        return false;
      } catch (error) {
        return error instanceof FraudCallError && /OOM/.test(error.message) ? error : false;
      }
    });
    assert.ok(refusal instanceof FraudCallError && refusal.code === status.UNAVAILABLE, String(refusal));
    await waitForHealth(running, all(TASKS, 'NOT_SERVING'));
    assert.deepEqual(await statuses(running.address, ['', SERVICE]), all(['', SERVICE], 'SERVING'), 'the process stays up and ready');
    assert.equal(await metric(running, 'fraud_state_redis_out_of_memory'), 1);
    assert.ok(((await metric(running, 'fraud_state_errors_total{store="redis",reason="out_of_memory"}')) ?? 0) >= 1, 'the failed call counted by reason');
    await checksGoneBy(running, 2);
    const node = `127.0.0.1:${redis.port}`;
    assert.equal(await metric(running, `fraud_state_redis_memory_bytes{node="${node}",kind="max"}`), limit);
    assert.ok(((await metric(running, `fraud_state_redis_memory_bytes{node="${node}",kind="used"}`)) ?? 0) > limit);
    assert.equal((await statuses(running.address, TASKS))[TASKS[0] as string], 'NOT_SERVING', 'still, after checks that found Redis full');
    for (let call = 0; call < 5; call++) await running.client.predict(transaction()).catch(() => undefined);
    assert.equal(logged(running, /^Redis is out of memory and refuses writes/), 1, 'said once per episode');
    assert.equal(logged(running, /^Redis unavailable/), 0, 'Redis answers: not an outage per refused call');
    assert.equal(await metric(running, 'fraud_state_store_up{store="redis"}'), 1);

    for (let index = 0; index < fillers; index++) await redis.admin.del(`filler:${index}`);
    await waitForHealth(running, all(TASKS, 'SERVING'));
    assert.equal(await metric(running, 'fraud_state_redis_out_of_memory'), 0);
    await waitFor('a call scored again', () => running.client.predict(transaction()).then(() => true, () => false));
    assert.equal(logged(running, 'Redis takes writes again: out of memory no more'), 1);
  });

  it('should notice a Redis restarted empty on reconnection: a loss counted, logged once, health history NOT_SERVING, a new marker noting it', async () => {
    const redis = await redisServer();
    // No periodic check within the test: the reconnection alone must find the loss.
    const running = await service(redis, { FRAUD_REDIS_CHECK_SECONDS: '3600' });
    await waitForHealth(running, { [HISTORY]: 'SERVING' });
    const { id } = await redis.admin.hgetall('guard:{generation}');
    await running.client.predict(transaction({ transactionId: 7, ...at(10 * 86_400) }));
    await redis.kill();
    await redis.resume();
    await waitFor('the loss to be counted', async () => (await metric(running, 'fraud_state_store_lost_total{store="redis"}')) === 1);
    await waitForHealth(running, { [HISTORY]: 'NOT_SERVING', '': 'SERVING', [SERVICE]: 'SERVING', ...all(TASKS, 'SERVING') });
    assert.equal(await metric(running, 'fraud_state_history_incomplete{store="redis"}'), 1);
    const errors = running.logs.filter((record) => record.level === 'error' && LOSS_LOG.test(record.msg));
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.lostGeneration, id);
    assert.equal(errors[0]?.how, 'gone');
    const marker = await redis.admin.hgetall('guard:{generation}');
    assert.notEqual(marker.id, id, 'a new marker, so the next loss is noticed too');
    assert.equal(marker.lost_generation, id);
    const eventTime = Date.parse('2018-04-01T00:00:00Z') / 1000 + 10 * 86_400;
    assert.ok(Number(marker.incomplete_until) > eventTime + 38 * 86_400, `incomplete until the windows are past the loss, got ${marker.incomplete_until}`);
    // A replica started after the loss never saw the old marker, and reads the note.
    const later = await service(redis);
    await waitForHealth(later, { '': 'SERVING', [HISTORY]: 'NOT_SERVING' });
    assert.equal(await metric(later, 'fraud_state_store_lost_total{store="redis"}'), 0, 'it noticed no loss itself');
    assert.equal(await metric(later, 'fraud_state_history_incomplete{store="redis"}'), 1);
  });

  it('should notice a store emptied under it (FLUSHALL) on its periodic check, again after each loss, and serve history again when acknowledged or when event time is past the loss', async () => {
    const redis = await redisServer();
    const running = await service(redis, { FRAUD_REDIS_CHECK_SECONDS: '0.1' });
    await waitForHealth(running, { [HISTORY]: 'SERVING' });
    const day = (days: number): number => days * 86_400 + 3600;
    await running.client.predict(transaction({ transactionId: 11, ...at(day(10)) }));
    await redis.admin.flushall();
    await waitForHealth(running, { [HISTORY]: 'NOT_SERVING' });
    assert.equal(await metric(running, 'fraud_state_store_lost_total{store="redis"}'), 1);
    // Acknowledged: the operator deletes the note.
    await redis.admin.hdel('guard:{generation}', 'incomplete_until');
    await waitForHealth(running, { [HISTORY]: 'SERVING' });
    assert.equal(await metric(running, 'fraud_state_history_incomplete{store="redis"}'), 0);

    await redis.admin.flushall();
    await waitForHealth(running, { [HISTORY]: 'NOT_SERVING' });
    assert.equal(await metric(running, 'fraud_state_store_lost_total{store="redis"}'), 2, 'the next loss is noticed too');
    assert.equal(logged(running, LOSS_LOG), 2, 'one error line per loss');
    const until = Number((await redis.admin.hgetall('guard:{generation}')).incomplete_until);
    const epoch = Date.parse('2018-04-01T00:00:00Z') / 1000;
    // One second before the bound: still incomplete; at the bound: complete.
    await running.client.predict(transaction({ transactionId: 12, ...at(until - epoch - 1) }));
    await checksGoneBy(running, 2);
    assert.equal((await statuses(running.address, [HISTORY]))[HISTORY], 'NOT_SERVING');
    await running.client.predict(transaction({ transactionId: 13, ...at(until - epoch) }));
    await waitForHealth(running, { [HISTORY]: 'SERVING' });
  });
});

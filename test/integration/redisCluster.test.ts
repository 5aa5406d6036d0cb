import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Cluster } from 'ioredis';
import { FeatureBuilder } from '../../src/features/featureBuilder.js';
import { historyDays, isWindowFeature, loadFeatureSpec } from '../../src/features/featureSpec.js';
import { createLogger } from '../../src/observability/logger.js';
import { MemoryStateStore } from '../../src/state/memoryStateStore.js';
import { idBytes } from '../../src/state/redisCodec.js';
import type { RedisFailureReason } from '../../src/state/redisConnection.js';
import { RedisStateStore } from '../../src/state/redisStateStore.js';
import { StateUnavailableError, type OutcomeReport, type StateStore, type TransactionEvent } from '../../src/state/stateStore.js';
import { RedisCluster } from '../helpers/redis.js';
import { fixture } from '../helpers/paths.js';
import { startTestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const spec = loadFeatureSpec();
const DAY = 86_400;
const LATENESS = 3_600;
const START = spec.epochSeconds + 10 * DAY;
const builder = new FeatureBuilder(
  spec,
  [...spec.features.values()].filter(isWindowFeature).map((feature) => feature.name),
);

/** A small deterministic generator (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Step = { readonly batch: readonly TransactionEvent[]; readonly allOrNothing: boolean } | { readonly reports: readonly OutcomeReport[] };

/**
 * 40 days of calls over 60 customers and 30 terminals (so keys spread over
 * all three primaries): batches of 1 to 300 (more than one round trip),
 * retries, transactions late by up to twice the lateness, outcomes.
 */
function stream(seed: number, steps: number): Step[] {
  const next = random(seed);
  const sent: TransactionEvent[] = [];
  const plan: Step[] = [];
  let clock = START;
  let nextId = 1n;
  for (let step = 0; step < steps; step++) {
    if (next() < 0.15 && sent.length > 0) {
      const reports = Array.from({ length: 1 + Math.floor(next() * 5) }, (): OutcomeReport => {
        const target = sent[Math.floor(next() * sent.length)] as TransactionEvent;
        return { transactionId: target.id, outcome: next() < 0.6 ? 'fraud' : 'legitimate', knownAt: target.time + next() * 10 * DAY };
      });
      plan.push({ reports });
      continue;
    }
    const size = next() < 0.9 ? 1 + Math.floor(next() * 8) : 200 + Math.floor(next() * 100);
    const batch: TransactionEvent[] = [];
    // Retries of earlier calls' transactions: within one batch the stores differ (the embedded store
    // checks lateness before recording any of the batch, so a repeat of the batch's own one can be late).
    const earlier = sent.length;
    for (let item = 0; item < size; item++) {
      clock += next() * (40 * DAY) / 6_000;
      let event: TransactionEvent;
      if (next() < 0.08 && earlier > 0) {
        event = sent[Math.floor(next() * earlier)] as TransactionEvent;
      } else {
        event = {
          id: nextId++,
          customerId: BigInt(1 + Math.floor(next() * 60)),
          terminalId: BigInt(1 + Math.floor(next() * 30)),
          amount: Math.round(next() * 30_000) / 100,
          time: clock - (next() < 0.1 ? next() * 2 * LATENESS : 0),
        };
        sent.push(event);
      }
      batch.push(event);
    }
    plan.push({ batch, allOrNothing: next() < 0.7 });
  }
  return plan;
}

/** Everything a store answers for one step: features, duplicates, refusals, outcome results. */
async function play(store: StateStore, step: Step): Promise<unknown> {
  if ('reports' in step) return store.reportOutcomes(step.reports);
  const seen: unknown[] = [];
  const late = await store.record(
    step.batch,
    (index, history) => {
      const event = step.batch[index] as TransactionEvent;
      const features = builder.describe({ transactionId: event.id, txAmount: event.amount, txDatetime: new Date(event.time * 1000), features: {} }, history);
      seen.push({ index, duplicate: history.duplicate, features });
    },
    { allOrNothing: step.allOrNothing },
  );
  return { late, seen };
}

interface LogLine {
  readonly level: string;
  readonly msg: string;
}

function clusterStore(cluster: RedisCluster, keyPrefix: string, timeoutMs: number, logs?: LogLine[], failures?: RedisFailureReason[], waitReplicas = 0, asCluster = true, url = cluster.url): RedisStateStore {
  const logger = createLogger('info', {
    write(line: string) {
      logs?.push(JSON.parse(line) as LogLine);
    },
  });
  return new RedisStateStore({
    url,
    password: undefined,
    cluster: asCluster,
    waitReplicas,
    timeoutMs,
    keyPrefix,
    latenessSeconds: LATENESS,
    maxFutureSeconds: 300,
    historyDays: historyDays(spec),
    logger,
    onFailure: (reason) => failures?.push(reason),
  });
}

describe('the Redis store on a real Redis Cluster (3 primaries, 3 replicas)', function () {
  this.timeout(120_000);
  let cluster: RedisCluster;
  before(async () => {
    cluster = await RedisCluster.start();
  });
  after(async () => {
    await cluster.stop();
  });

  it('should give the embedded store\'s features, duplicates, refusals and outcome results, with keys on every primary', async () => {
    const memory = new MemoryStateStore({ latenessSeconds: LATENESS, historyDays: historyDays(spec), maxEntities: 1_000_000, maxTransactions: 1_000_000 });
    const store = clusterStore(cluster, 'parity:', 5_000);
    store.start();
    await store.ready;
    try {
      let transactions = 0;
      let late = 0;
      for (const [position, step] of stream(11, 400).entries()) {
        const expected = await play(memory, step);
        assert.deepEqual(await play(store, step), expected, `step ${position}`);
        if (!('reports' in step)) {
          transactions += step.batch.length;
          late += (expected as { late: unknown[] }).late.length;
        }
      }
      assert.ok(late > 0, 'the stream must reach late transactions');
      // The keys really are spread: every primary holds some of them.
      const primaries = new Set<number>();
      for (let customer = 1; customer <= 60; customer++) primaries.add((await cluster.shardOf(store.customerKey(BigInt(customer)))).primary);
      assert.equal(primaries.size, 3, `customers on ${primaries.size} primaries`);
      console.log(`      ${transactions} transactions (${late} late) in batches up to 300, same answers as the embedded store`);
    } finally {
      await store.close();
    }
  });

  it('should acknowledge a write only once a replica has it with FRAUD_REDIS_WAIT_REPLICAS=1, at a cost it measures', async () => {
    let rounds = 0;
    const latencies = async (waitReplicas: number): Promise<number[]> => {
      const store = clusterStore(cluster, `wait${++rounds}:`, 1_000, undefined, undefined, waitReplicas);
      store.start();
      await store.ready;
      try {
        const took: number[] = [];
        let nextId = 1;
        // 8 concurrent clients, 125 calls each, one transaction per call.
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            for (let call = 0; call < 125; call++) {
              const id = nextId++;
              const started = performance.now();
              await store.record([{ id: BigInt(id), customerId: BigInt(1 + (id % 200)), terminalId: BigInt(1 + (id % 50)), amount: 10, time: START + id }], () => undefined, {
                allOrNothing: true,
              });
              took.push(performance.now() - started);
            }
          }),
        );
        return took;
      } finally {
        await store.close();
      }
    };
    // Alternated, so that a warming cluster or a busy moment weighs on both alike.
    const without: number[] = [];
    const confirmed: number[] = [];
    for (const waitReplicas of [0, 1, 1, 0]) (waitReplicas === 0 ? without : confirmed).push(...(await latencies(waitReplicas)));
    without.sort((a, b) => a - b);
    confirmed.sort((a, b) => a - b);
    const summary = (took: number[]): string =>
      `mean ${(took.reduce((sum, ms) => sum + ms, 0) / took.length).toFixed(2)} ms, p99 ${(took[Math.floor(took.length * 0.99)] ?? Number.NaN).toFixed(2)} ms`;
    console.log(`      2,000 calls at concurrency 8: without WAIT ${summary(without)}; with WAIT 1 ${summary(confirmed)}`);
    assert.equal(confirmed.length, 2_000);
  });

  it('should serve Predict and PredictBatch with history from the cluster when FRAUD_REDIS_CLUSTER=true', async () => {
    const service = await startTestService({
      FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'),
      FRAUD_STATE_STORE: 'redis',
      FRAUD_REDIS_URL: cluster.url,
      FRAUD_REDIS_CLUSTER: 'true',
      FRAUD_REDIS_KEY_PREFIX: 'service:',
    });
    try {
      await waitFor('SERVING', async () => (await service.client.checkHealth('')) === 'SERVING', 30_000);
      // 600 transactions of one card at 40 terminals: three round trips, keys on every primary.
      const batch = Array.from({ length: 600 }, (_, n) => ({ transactionId: 1 + n, customerId: 7, terminalId: 1 + (n % 40), txAmount: 20, txTimeSeconds: 5 * DAY + n }));
      const answered = await service.client.predictBatch(batch);
      assert.equal(answered.predictions.length, 600);
      const next = await service.client.predict({ transactionId: 601, customerId: 7, terminalId: 1, txAmount: 20, txTimeSeconds: 5 * DAY + 600 }, { explain: true });
      assert.equal(next.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 601);
    } finally {
      await service.stop();
    }
  });

  it('should say once that FRAUD_REDIS_CLUSTER=true is missing when the URL names a node of a cluster', async () => {
    const logs: LogLine[] = [];
    const store = clusterStore(cluster, 'single:', 1_000, logs, undefined, 0, false);
    store.start();
    await store.ready;
    try {
      const said = (): number => logs.filter((line) => line.level === 'error' && line.msg.startsWith('FRAUD_REDIS_URL names a node of a Redis Cluster: set FRAUD_REDIS_CLUSTER=true')).length;
      await waitFor('the log line', () => said() > 0);
      assert.equal(said(), 1);
    } finally {
      await store.close();
    }
  });

  it('should fail calls fast while a killed primary\'s replica is promoted, then succeed again by itself, and say what was lost', async () => {
    const logs: LogLine[] = [];
    const failures: RedisFailureReason[] = [];
    const TIMEOUT_MS = 200;
    const store = clusterStore(cluster, 'failover:', TIMEOUT_MS, logs, failures);
    store.start();
    await store.ready;
    const reader = new Cluster([{ host: '127.0.0.1', port: cluster.ports[0] as number }], { scaleReads: 'master' });
    try {
      const acknowledged: { event: TransactionEvent; at: number }[] = [];
      const failed: { at: number; ms: number; error: unknown }[] = [];
      let nextId = 1;
      let running = true;
      const loop = async (): Promise<void> => {
        while (running) {
          const id = nextId++;
          const event: TransactionEvent = { id: BigInt(id), customerId: BigInt(1 + (id % 200)), terminalId: BigInt(1 + (id % 50)), amount: 10, time: START + Math.floor(id / 10) };
          const started = performance.now();
          try {
            await store.record([event], () => undefined, { allOrNothing: true });
            acknowledged.push({ event, at: performance.now() });
          } catch (error) {
            failed.push({ at: started, ms: performance.now() - started, error });
            // A client backing off: the loop does not spin on a failing store.
            await new Promise((wake) => setTimeout(wake, 5));
          }
        }
      };
      // Beside them, one client sends batches of 300 (60 other cards, 25 other terminals), each retried until it succeeds.
      const batches: TransactionEvent[][] = [];
      let batchFailures = 0;
      let nextBatchId = 1_000_000;
      const batchLoop = async (): Promise<void> => {
        while (running) {
          const batch = Array.from({ length: 300 }, (): TransactionEvent => {
            const id = nextBatchId++;
            return { id: BigInt(id), customerId: BigInt(10_001 + (id % 60)), terminalId: BigInt(5_001 + (id % 25)), amount: 1 + (id % 90), time: START + Math.floor((id - 1_000_000) / 20) };
          });
          for (;;) {
            try {
              await store.record(batch, () => undefined, { allOrNothing: true });
              break;
            } catch (error) {
              if (!(error instanceof StateUnavailableError)) throw error;
              batchFailures++;
              await new Promise((wake) => setTimeout(wake, 5));
            }
          }
          batches.push(batch);
        }
      };
      const loops = [...Array.from({ length: 8 }, () => loop()), batchLoop()];
      await waitFor('calls acknowledged before the kill', () => acknowledged.length >= 500, 30_000);
      const victim = await cluster.shardOf(store.customerKey(1n));
      // How far its replica was behind just before the kill (bytes of the replication stream; read one after the other).
      const primaryOffset = Number(/master_repl_offset:(\d+)/.exec(await cluster.command(victim.primary, 'INFO', 'replication'))?.[1]);
      const replicaOffset = Number(/slave_repl_offset:(\d+)/.exec(await cluster.command(victim.replicas[0] as number, 'INFO', 'replication'))?.[1]);
      const lagBytes = primaryOffset - replicaOffset;
      const killedAt = performance.now();
      await cluster.kill(victim.primary);
      await waitFor('calls failing while the replica is promoted', () => failed.length > 0, 30_000);
      const survivors = cluster.ports.filter((port) => port !== victim.primary);
      await cluster.waitUntilOk(survivors);
      // Succeeding again, without a restart: calls on every customer (the killed primary's included).
      const recovered = acknowledged.length;
      await waitFor('calls succeeding on every shard after the failover', () => acknowledged.length >= recovered + 1_000, 30_000);
      // Available again (the metric, one log line) once nothing failed for a while.
      await waitFor('the recovery log line', () => logs.some((line) => line.msg === 'Redis available again'), 30_000);
      running = false;
      await Promise.all(loops);

      // Failures are UNAVAILABLE (StateUnavailableError) and come fast: never a hang.
      assert.ok(failed.every(({ error }) => error instanceof StateUnavailableError), 'every failure is StateUnavailableError');
      // Each failed call is counted once (fraud_state_errors_total), as a shard being unavailable.
      assert.equal(failures.length, failed.length + batchFailures);
      assert.ok(failures.every((reason) => reason === 'unavailable' || reason === 'timeout'), JSON.stringify(count(failures)));
      const slowest = Math.max(...failed.map(({ ms }) => ms));
      const lastFailure = Math.max(...failed.map(({ at }) => at));
      const promotedShard = await cluster.shardOf(store.customerKey(1n), survivors[0]);
      assert.ok(victim.replicas.includes(promotedShard.primary), 'the killed primary\'s replica serves its slots');

      // What the kill lost: transactions acknowledged before it whose records are gone after the failover.
      const before = acknowledged.filter(({ at }) => at < killedAt).map(({ event }) => event);
      let lostCustomer = 0;
      let lostIndex = 0;
      let lostTerminal = 0;
      for (const event of before) {
        const customer = await reader.getBuffer(store.customerKey(event.customerId));
        if (customer === null || !customer.includes(idBytes(event.id))) lostCustomer++;
        if ((await reader.exists(store.indexKey(event.id))) === 0) lostIndex++;
        if ((await reader.zscore(`${store.terminalKey(event.terminalId)}:ids`, idBytes(event.id))) === null) lostTerminal++;
      }
      // The batches, each retried until it succeeded, leave what each sent once leaves in the embedded store.
      assert.ok(batchFailures > 0, 'batches failed during the failover and were retried');
      const embedded = new MemoryStateStore({ latenessSeconds: LATENESS, historyDays: historyDays(spec), maxEntities: 1_000_000, maxTransactions: 1_000_000 });
      for (const batch of batches) await embedded.record(batch, () => undefined, { allOrNothing: true });
      const batchEvents = batches.flat();
      // 10 days on: terminal windows end 7 days before the transaction's day, so they see the batches' days then.
      const probeTime = (batchEvents.at(-1)?.time ?? START) + 10 * DAY;
      const probe = async (each: StateStore): Promise<unknown[]> => {
        const outcomes: unknown[] = [];
        for (let first = 0; first < batchEvents.length; first += 1_000) {
          outcomes.push(...(await each.reportOutcomes(batchEvents.slice(first, first + 1_000).map((event) => ({ transactionId: event.id, outcome: 'fraud' as const, knownAt: event.time + 1 })))));
        }
        const probes: TransactionEvent[] = [];
        for (let card = 0; card < 60; card++) probes.push({ id: BigInt(3_000_000 + card), customerId: BigInt(10_001 + card), terminalId: 9_999n, amount: 5, time: probeTime });
        for (let terminal = 0; terminal < 25; terminal++) probes.push({ id: BigInt(3_100_000 + terminal), customerId: BigInt(20_001 + terminal), terminalId: BigInt(5_001 + terminal), amount: 5, time: probeTime });
        return [outcomes, await play(each, { batch: probes, allOrNothing: true })];
      };
      // Read back by a second client of the same keys with a generous timeout: the probe checks what the
      // failover left, and a busy machine must not fail it with the 200 ms timeout under test above.
      // (It starts from a node still alive: the first may be the one killed.)
      const verifier = clusterStore(cluster, 'failover:', 10_000, undefined, undefined, 0, true, `redis://127.0.0.1:${survivors[0] as number}`);
      verifier.start();
      await verifier.ready;
      try {
        assert.deepEqual(await probe(verifier), await probe(embedded), 'the batches\' history differs from the embedded store\'s (retries counted twice, or acknowledged writes lost in the failover)');
      } finally {
        await verifier.close();
      }
      const outages = logs.filter((line) => line.msg.startsWith('Redis unavailable')).length;
      const recoveries = logs.filter((line) => line.msg === 'Redis available again').length;
      console.log(
        `      primary killed: ${failed.length} calls failed (slowest ${slowest.toFixed(0)} ms, reasons ${JSON.stringify(count(failures))}), ` +
          `succeeding again ${((lastFailure - killedAt) / 1000).toFixed(1)} s after the kill; ${outages} outage log line(s), ${recoveries} recovery line(s)`,
      );
      console.log(`      ${batches.length} batches of 300 recorded, ${batchFailures} failed attempts retried: the embedded store's history for them, outcomes included`);
      console.log(
        `      of ${before.length} transactions acknowledged before the kill: ${lostCustomer} lost at their customer, ${lostTerminal} at their terminal, ` +
          `${lostIndex} in the transaction index (just before, the replica's offset, read after its primary's, was ${lagBytes > 0 ? `${lagBytes} bytes behind` : `${-lagBytes} bytes ahead: caught up`})`,
      );
      // One warning per outage, not one per failed call (a busy machine may add a timeout of its own after the failover).
      assert.ok(outages >= 1 && outages <= 3, `${outages} outage lines for ${failed.length} failures`);
      assert.ok(recoveries >= 1 && recoveries <= outages, `${recoveries} recovery lines`);
    } finally {
      reader.disconnect();
      await store.close();
    }
  });
});

function count(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

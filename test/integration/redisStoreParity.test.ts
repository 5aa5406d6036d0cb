import assert from 'node:assert/strict';
import { FeatureBuilder } from '../../src/features/featureBuilder.js';
import { historyDays, isWindowFeature, loadFeatureSpec } from '../../src/features/featureSpec.js';
import { MAX_RECENT_TRANSACTIONS } from '../../src/state/entityRecords.js';
import { MemoryStateStore } from '../../src/state/memoryStateStore.js';
import type { RepairEvent } from '../../src/state/redisStateStore.js';
import type { OutcomeReport, OutcomeResult, StateStore, TransactionEvent } from '../../src/state/stateStore.js';
import { RedisServer, startRedisStateStore } from '../helpers/redis.js';

const spec = loadFeatureSpec();
const LATENESS = 3600;
const DAY = 86_400;
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
 * Calls as a busy service sees them, over 60 days: a few customers and
 * terminals (so windows fill, days are dropped and outcomes land), event
 * times out of order by up to 1.5 × the lateness (some are refused, and whole
 * batches with them), exact retries of earlier transactions (some days later,
 * when the terminal's id set has forgotten them, and later than the lateness
 * allows), the same id again at another terminal, customers far behind the
 * terminals, and outcomes of every status.
 */
function scenario(seed: number, steps: number): Step[] {
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const sent: TransactionEvent[] = [];
  const retryable: TransactionEvent[] = [];
  /** Transactions reported before: corrections of them make chains. */
  const reported: TransactionEvent[] = [];
  const plan: Step[] = [];
  let clock = START;
  let nextId = 1n;
  for (let step = 0; step < steps; step++) {
    if (next() < 0.12 && sent.length > 0) {
      const reports: OutcomeReport[] = [];
      const count = 1 + Math.floor(next() * 3);
      for (let report = 0; report < count; report++) {
        const recent = sent.filter((event) => event.time > clock - 25 * DAY);
        const again = reported.filter((event) => event.time > clock - 25 * DAY);
        const target =
          next() < 0.1 || recent.length === 0 ? { id: 999_999n, time: clock } : again.length > 0 && next() < 0.5 ? pick(again) : pick(recent);
        if (target.id !== 999_999n) reported.push(target as TransactionEvent);
        const knownAt = target.time + (next() < 0.1 ? -60 : next() * 12 * DAY);
        // Corrections too: chains, out of order ones, and past the cap on busy transactions.
        reports.push({ transactionId: target.id, outcome: next() < 0.7 ? 'fraud' : 'legitimate', knownAt, supersedes: next() < 0.5 });
      }
      plan.push({ reports });
      continue;
    }
    const batch: TransactionEvent[] = [];
    if (next() < 0.02) {
      // A customer far behind the terminals (lateness is per customer): its days land
      // before what the terminals' retention keeps, and its second transaction reads them.
      const customerId = BigInt(1000 + step);
      const time = clock - (38 + next() * 6) * DAY;
      const terminalId = BigInt(1 + Math.floor(next() * 4));
      batch.push({ id: nextId++, customerId, terminalId, amount: 10, time }, { id: nextId++, customerId, terminalId, amount: 20, time: time + DAY });
      plan.push({ batch, allOrNothing: true });
      continue;
    }
    const size = next() < 0.8 ? 1 : 2 + Math.floor(next() * 4);
    for (let item = 0; item < size; item++) {
      clock += next() * 0.2 * DAY;
      const roll = next();
      let event: TransactionEvent;
      // Retries and outcomes within 25 days: the embedded store forgets by event time, Redis by TTLs.
      const recent = retryable.filter((candidate) => candidate.time > clock - 25 * DAY);
      if (roll < 0.15 && recent.length > 0) {
        event = pick(recent);
      } else if (roll < 0.18 && retryable.length > 0) {
        // The same id at another terminal: recorded again there. Never retried, since the
        // embedded store would count a retry of it twice (see the report on that store).
        const original = pick(retryable);
        event = { ...original, terminalId: original.terminalId === 1n ? 2n : 1n };
      } else {
        const late = next() < 0.25 ? next() * 1.5 * LATENESS : 0;
        event = {
          id: nextId++,
          customerId: BigInt(1 + Math.floor(next() * 5)),
          terminalId: BigInt(1 + Math.floor(next() * 4)),
          amount: Math.round(next() * 30_000) / 100,
          time: clock - late,
        };
        retryable.push(event);
      }
      batch.push(event);
      sent.push(event);
    }
    // Calls scored on history refuse a late transaction whole; the others leave it out.
    plan.push({ batch, allOrNothing: next() < 0.7 });
  }
  return plan;
}

/** Everything a store answers for one step: features, duplicates, refusals, outcome results. */
async function play(store: StateStore, step: Step): Promise<unknown> {
  if ('reports' in step) return store.reportOutcomes(step.reports);
  const seen: unknown[] = [];
  const late = await store.record(step.batch, (index, history) => {
    const event = step.batch[index] as TransactionEvent;
    const features = builder.describe({ transactionId: event.id, txAmount: event.amount, txDatetime: new Date(event.time * 1000), features: {} }, history);
    seen.push({ index, duplicate: history.duplicate, features });
  }, { allOrNothing: step.allOrNothing });
  return { late, seen };
}

describe('the Redis store against the embedded one (same calls, same answers)', function () {
  this.timeout(120_000);
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(async () => {
    await redis.stop();
  });

  it(`should fold the same transactions of a card past ${MAX_RECENT_TRANSACTIONS} recent ones, and keep counting them`, async () => {
    const memory = new MemoryStateStore({ latenessSeconds: LATENESS, historyDays: historyDays(spec), maxEntities: 1_000, maxTransactions: 10_000 });
    const store = await startRedisStateStore(redis, { timeoutMs: 5_000, keyPrefix: 'hotcard:', latenessSeconds: LATENESS, historyDays: historyDays(spec) });
    try {
      // One card, three times the cap within the lateness, event times shuffled (some arrive before
      // earlier ones), in batches as a client flooding one card would send them.
      const next = random(7);
      const total = 3 * MAX_RECENT_TRANSACTIONS;
      const events: TransactionEvent[] = Array.from({ length: total }, (_, index) => ({
        id: BigInt(index + 1),
        customerId: 1n,
        terminalId: BigInt(1 + (index % 3)),
        amount: 1 + Math.floor(next() * 100),
        time: START + 3000 + Math.floor(next() * 600),
      }));
      // The cap's rule, played alongside: past the cap the earliest in event time (the first recorded among
      // equals) folds into its day and counts from then on as though it came before every transaction of that day.
      const recent: TransactionEvent[] = [];
      let folded = 0;
      for (let start = 0; start < total; start += 50) {
        const step = { batch: events.slice(start, start + 50), allOrNothing: true };
        const expected = (await play(memory, step)) as { late: unknown[]; seen: { features: Record<string, number> }[] };
        assert.deepEqual(await play(store, step), expected, `batch at ${start}`);
        let lastFolded = false;
        for (const event of step.batch) {
          recent.push(event);
          if (recent.length <= MAX_RECENT_TRANSACTIONS) continue;
          const earliest = recent.reduce((best, each, index) => (each.time < (recent[best] as TransactionEvent).time ? index : best), 0);
          lastFolded = recent.splice(earliest, 1)[0] === event;
          folded++;
        }
        // Folded or kept exactly, every transaction of the day still counts: itself, the folded ones (itself again
        // when it was the one folded: the rule's letter), and the other kept ones up to its time.
        const last = step.batch.at(-1) as TransactionEvent;
        const counted = folded + recent.filter((each) => each.time <= last.time).length + (lastFolded ? 1 : 0);
        assert.equal(expected.seen.length, step.batch.length, `batch at ${start}: every transaction scored`);
        assert.equal(expected.seen.at(-1)?.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, counted, `batch at ${start}`);
      }
      const last: TransactionEvent = { id: BigInt(total + 1), customerId: 1n, terminalId: 9n, amount: 5, time: START + 3600 };
      const final = (await play(memory, { batch: [last], allOrNothing: true })) as { seen: { features: Record<string, number> }[] };
      assert.deepEqual(await play(store, { batch: [last], allOrNothing: true }), final);
      assert.equal(final.seen[0]?.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, total + 1);
      // Each score reads the card's recent transactions: the cap bounds them in both stores (a retry reads them again).
      for (const each of [memory, store]) {
        let kept = Number.NaN;
        await each.record([last], (_index, history) => (kept = history.customer.recentCount), { allOrNothing: true });
        assert.equal(kept, MAX_RECENT_TRANSACTIONS);
      }
    } finally {
      await store.close();
    }
  });

  for (const seed of [1, 2, 3]) {
    it(`should give the same features, duplicates, refusals and outcome results (seed ${seed})`, async () => {
      const repairs = new Map<RepairEvent, number>();
      const memory = new MemoryStateStore({ latenessSeconds: LATENESS, historyDays: historyDays(spec), maxEntities: 1_000_000, maxTransactions: 1_000_000 });
      const store = await startRedisStateStore(redis, {
        timeoutMs: 5_000,
        keyPrefix: `parity${seed}:`,
        latenessSeconds: LATENESS,
        historyDays: historyDays(spec),
        onRepair: (event) => repairs.set(event, (repairs.get(event) ?? 0) + 1),
      });
      try {
        let late = 0;
        const statuses = new Map<string, number>();
        for (const [position, step] of scenario(seed, 1500).entries()) {
          const expected = await play(memory, step);
          const actual = await play(store, step);
          assert.deepEqual(actual, expected, `step ${position}: ${JSON.stringify(step, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value))}`);
          if (!('reports' in step)) late += (expected as { late: unknown[] }).late.length;
          else for (const { status } of expected as OutcomeResult[]) statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
        assert.ok((statuses.get('corrected') ?? 0) > 5, `corrections: ${JSON.stringify([...statuses])}`);
        // The scenario must reach the paths where the terminal's count is taken back.
        assert.ok(late > 20, `only ${late} late transactions`);
        assert.ok((repairs.get('late') ?? 0) > 5, `late repairs: ${repairs.get('late') ?? 0}`);
        assert.ok((repairs.get('repeat') ?? 0) > 0, `repeat repairs: ${repairs.get('repeat') ?? 0}`);
      } finally {
        await store.close();
      }
    });
  }
});

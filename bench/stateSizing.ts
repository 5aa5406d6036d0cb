/**
 * Real bytes per card, terminal and remembered transaction of the embedded
 * store, measured by the process's resident memory (RSS) rather than by the
 * store's own estimate: one child process per kind fills a store with that
 * kind only, and the RSS it grew by (after garbage collection, with the
 * service's Node flags) is divided by the count. The process first fills a
 * store of the same size and keeps it, so that what does not grow with the
 * store (the young generation at its working size, compiled code) is there
 * before the measure and not charged to each entity. (A first store dropped
 * instead leaves its pages to the second, which then looks almost free.) The histories are the
 * simulator's shape at its busiest: a card with two transactions a day for 30
 * days, a terminal with two a day for 38.
 *
 *   node dist/bench/stateSizing.js            prints the table (docs/history.md, Capacity)
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { historyDays, loadFeatureSpec } from '../src/features/featureSpec.js';
import { SERVICE_NODE_FLAGS } from '../src/nodeFlags.js';
import { MemoryStateStore } from '../src/state/memoryStateStore.js';
import type { TransactionEvent } from '../src/state/stateStore.js';

const execFileAsync = promisify(execFile);
export const DAY = 86_400;
const START = 1_700_000_000;
export type Kind = 'card' | 'terminal' | 'transaction';
/** The simulator's busiest history (the figures the targets read), or a light one: three transactions on one day. */
export type Shape = 'busiest' | 'light';

/** What is measured, in this order, each in processes of its own. */
const FIGURES: readonly { readonly kind: Kind; readonly shape: Shape; readonly count: number }[] = [
  { kind: 'card', shape: 'busiest', count: 50_000 },
  { kind: 'terminal', shape: 'busiest', count: 50_000 },
  { kind: 'transaction', shape: 'busiest', count: 500_000 },
  { kind: 'card', shape: 'light', count: 100_000 },
  { kind: 'terminal', shape: 'light', count: 100_000 },
];

export interface Measured {
  readonly kind: Kind;
  readonly shape: Shape;
  readonly count: number;
  /** RSS grown per entity, bytes. */
  readonly rss: number;
  /** The store's own estimate per entity (fraud_state_bytes), bytes. */
  readonly estimate: number;
}

async function settledRss(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  gc();
  // V8 gives free pages back to the system after a collection, not during it.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  gc();
  return process.memoryUsage().rss;
}

/** Fills a store with `count` of one kind, in time order, and measures it (in this process). */
async function measure(kind: Kind, shape: Shape, count: number): Promise<Measured> {
  const filled = async (): Promise<MemoryStateStore> => {
    const store = new MemoryStateStore({
      latenessSeconds: DAY,
      historyDays: historyDays(loadFeatureSpec()),
      maxEntities: 10_000_000,
      // Only the transaction figure keeps what it records.
      maxTransactions: kind === 'transaction' ? count : 1,
    });
    for (const batch of sizingBatches(kind, count, START, shape)) await store.record(batch, () => undefined, { allOrNothing: false });
    return store;
  };
  const first = await filled();
  const before = await settledRss();
  const store = await filled();
  const grown = (await settledRss()) - before;
  if (first.stats().customers !== store.stats().customers) throw new Error('the two stores differ');
  const stats = store.stats();
  const estimate = kind === 'card' ? stats.bytes.customer / stats.customers : kind === 'terminal' ? stats.bytes.terminal / stats.terminals : stats.bytes.transaction / stats.transactions;
  return { kind, shape, count, rss: grown / count, estimate };
}

/**
 * The transactions that fill a store with `count` of one kind, in time order, in batches of
 * 10,000, from event time `start`: a card with two transactions a day for 30 days (all at one
 * terminal), a terminal with two a day for 38 (all of one card), or transactions of one card
 * at one terminal a second apart; the light shape, a card or terminal with three transactions
 * an hour apart on one day.
 */
export function* sizingBatches(kind: Kind, count: number, start: number, shape: Shape = 'busiest'): Generator<TransactionEvent[]> {
  let id = 0;
  let batch: TransactionEvent[] = [];
  const push = function* (event: TransactionEvent): Generator<TransactionEvent[]> {
    batch.push(event);
    if (batch.length < 10_000) return;
    yield batch;
    batch = [];
  };
  if (kind === 'transaction') {
    for (let index = 0; index < count; index++) yield* push({ id: BigInt(++id), customerId: 1n, terminalId: 1n, amount: 10, time: start + index });
  } else if (shape === 'light') {
    const dayStart = Math.floor(start / DAY) * DAY + 3_600;
    for (let hour = 0; hour < 3; hour++) {
      for (let entity = 0; entity < count; entity++) {
        const own = BigInt(entity + 1);
        const time = dayStart + hour * 3_600 + Math.floor(entity / 100);
        yield* push({ id: BigInt(++id), customerId: kind === 'card' ? own : 1n, terminalId: kind === 'card' ? 1n : own, amount: 10 + (entity % 90), time });
      }
    }
  } else {
    const days = kind === 'card' ? 30 : 38;
    for (let day = 0; day < days; day++) {
      for (let twice = 0; twice < 2; twice++) {
        for (let entity = 0; entity < count; entity++) {
          const time = start + day * DAY + twice * 40_000 + Math.floor(entity / 10);
          const own = BigInt(entity + 1);
          // One card at every terminal, or every card at one terminal.
          yield* push({ id: BigInt(++id), customerId: kind === 'card' ? own : 1n, terminalId: kind === 'card' ? 1n : own, amount: 10 + (entity % 90), time });
        }
      }
    }
  }
  if (batch.length > 0) yield batch;
}

async function main(): Promise<void> {
  const [kind, shape] = process.argv.slice(2) as [Kind | undefined, Shape | undefined];
  if (kind !== undefined) {
    const figure = FIGURES.find((each) => each.kind === kind && each.shape === (shape ?? 'busiest'));
    if (figure === undefined) throw new Error(`no figure for ${kind} ${String(shape)}`);
    process.stdout.write(JSON.stringify(await measure(kind, figure.shape, figure.count)));
    return;
  }
  console.log(`${'kind'.padEnd(24)}${'count'.padStart(10)}${'RSS bytes each'.padStart(16)}${"store's estimate".padStart(18)}`);
  for (const result of await stateSizingFigures()) {
    console.log(`${`${result.kind}, ${result.shape}`.padEnd(24)}${String(result.count).padStart(10)}${result.rss.toFixed(0).padStart(16)}${result.estimate.toFixed(0).padStart(18)}`);
  }
}

/** Processes measured per kind: the heap's free space at the end of a fill varies by ±15 % from one to the next. */
const ROUNDS = 3;

/**
 * Each kind measured in child processes of its own, so one kind's garbage
 * does not count for the next: the median of ROUNDS by RSS (with its
 * process's estimate).
 */
export async function stateSizingFigures(): Promise<Measured[]> {
  const results: Measured[] = [];
  for (const { kind, shape } of FIGURES) {
    const rounds: Measured[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const { stdout } = await execFileAsync(process.execPath, ['--expose-gc', ...SERVICE_NODE_FLAGS, fileURLToPath(import.meta.url), kind, shape]);
      rounds.push(JSON.parse(stdout) as Measured);
    }
    rounds.sort((one, other) => one.rss - other.rss);
    results.push(rounds[Math.floor(ROUNDS / 2)] as Measured);
  }
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();

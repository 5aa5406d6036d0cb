/**
 * What a shadow model and the decision log cost a Predict call
 * (`npm run bench -- shadow [calls]`, and part of `npm run bench`):
 *
 *   answer path   in-process: the shadow's feature rows written during the
 *                 history pass (the only work a shadow adds before the answer),
 *                 in microseconds per transaction, for a challenger with history
 *                 features and one without
 *   Predict       three service processes side by side, loaded in turn with the
 *                 same distinct transactions (each has its own embedded store):
 *                 the bundled model alone; the same with a challenger in its
 *                 shadow (the bundled model again: history features, the
 *                 costliest kind); the same with the decision log's file sink
 *                 on and no shadow. Requests/s and p99 at c=1, 16 and 64,
 *                 medians of rounds, as ratios to the plain service.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { eventTimeSeconds } from '../src/features/eventClock.js';
import { historyDays, loadFeatureSpec } from '../src/features/featureSpec.js';
import type { Transaction } from '../src/gen/fraud/v1/fraud_service.js';
import { FileModelSource } from '../src/models/fileModelSource.js';
import { ModelLoader } from '../src/models/modelLoader.js';
import type { ServingModel } from '../src/models/servingModel.js';
import { MemoryStateStore } from '../src/state/memoryStateStore.js';
import { sample, scrape } from '../test/helpers/scrape.js';
import { waitFor } from '../test/helpers/waitFor.js';
import type { OverheadFigure } from './benchTargets.js';
import { HISTORY_MODEL, STATELESS_MODEL, unaryRequests, unaryRound, type StartService, type UnaryRound } from './historyBench.js';
import { medianBy } from './targetFigures.js';
import { TransactionStream } from './transactionStream.js';

export interface ShadowFigures {
  /** Microseconds per transaction the shadow's feature rows add to the history pass, by the challenger's kind. */
  readonly answerPathMicros: { readonly history: number; readonly stateless: number };
  readonly shadowOverPlain: ReadonlyMap<number, OverheadFigure>;
  readonly decisionLogOverPlain: ReadonlyMap<number, OverheadFigure>;
  readonly rows: readonly { readonly name: string; readonly rps: number; readonly p50Ms: number; readonly p99Ms: number }[];
  /** What the shadow service's own metrics say: transactions its shadow scored, and those it shed. */
  readonly shadowed: { readonly scored: number; readonly shed: number };
}

/** The sum of every series of `name` (any labels) in Prometheus text. */
function total(text: string, name: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

const WRITE_ROWS = 50_000;
const WRITE_BATCH = 1_000;

export async function shadowFigures(start: StartService, concurrencies: readonly number[], callsAt: (concurrency: number) => number, rounds: number): Promise<ShadowFigures> {
  const answerPathMicros = await answerPathCost(rounds);
  console.log(
    `\nshadow on the answer path (in-process, history pass of the embedded store): ${answerPathMicros.history.toFixed(2)} µs per transaction for a challenger with history features, ` +
      `${answerPathMicros.stateless.toFixed(2)} µs for one without`,
  );
  const logDir = mkdtempSync(join(tmpdir(), 'fraud-bench-decisions-'));
  const base = { FRAUD_STATE_STORE: 'memory', FRAUD_BINARY_MODEL_URI: HISTORY_MODEL };
  const sides = {
    plain: await start(base),
    shadow: await start({ ...base, FRAUD_BINARY_SHADOW_MODEL_URI: HISTORY_MODEL }),
    decisionLog: await start({ ...base, FRAUD_DECISION_LOG_DIR: logDir }),
  };
  // Measured only once the challenger is loaded (its watcher starts once the serving model has loaded).
  await waitFor('the shadow model loaded', async () => sample(await scrape(sides.shadow.metricsPort), 'fraud_shadow_model_loaded{task="binary"}') === 1, 60_000);
  const stream = new TransactionStream(31);
  const rows: ShadowFigures['rows'][number][] = [];
  const shadowOverPlain = new Map<number, OverheadFigure>();
  const decisionLogOverPlain = new Map<number, OverheadFigure>();
  let shadowed: ShadowFigures['shadowed'];
  try {
    for (const concurrency of concurrencies) {
      const calls = callsAt(concurrency);
      const measured = { plain: [] as UnaryRound[], shadow: [] as UnaryRound[], decisionLog: [] as UnaryRound[] };
      for (let round = 0; round < rounds; round++) {
        // loadgen sends one request before its clock starts, hence calls + 1; every side gets the same transactions.
        const requests = unaryRequests(stream, calls + 1);
        for (const side of ['plain', 'shadow', 'decisionLog'] as const) measured[side].push(await unaryRound(sides[side].address, requests, concurrency, calls));
      }
      const median = (side: keyof typeof measured): { rps: number; p50Ms: number; p99Ms: number } => ({
        rps: medianBy(measured[side], (round) => round.rps).rps,
        p50Ms: medianBy(measured[side], (round) => round.p50Ms).p50Ms,
        p99Ms: medianBy(measured[side], (round) => round.p99Ms).p99Ms,
      });
      const plain = median('plain');
      const shadow = median('shadow');
      const decisionLog = median('decisionLog');
      rows.push({ name: `Predict, no shadow, c=${concurrency}`, ...plain });
      rows.push({ name: `Predict with a shadow, c=${concurrency}`, ...shadow });
      rows.push({ name: `Predict, decision log files, c=${concurrency}`, ...decisionLog });
      shadowOverPlain.set(concurrency, { rpsRatio: shadow.rps / plain.rps, p99Ratio: shadow.p99Ms / plain.p99Ms });
      decisionLogOverPlain.set(concurrency, { rpsRatio: decisionLog.rps / plain.rps, p99Ratio: decisionLog.p99Ms / plain.p99Ms });
    }
    const text = await scrape(sides.shadow.metricsPort);
    shadowed = { scored: total(text, 'fraud_shadow_predictions_total'), shed: total(text, 'fraud_shadow_rows_shed_total') };
  } finally {
    await Promise.all(Object.values(sides).map((side) => side.stop()));
    rmSync(logDir, { recursive: true, force: true });
  }
  return { answerPathMicros, shadowOverPlain, decisionLogOverPlain, rows, shadowed };
}

export function printShadowFigures(figures: ShadowFigures): void {
  console.log(`\nshadow and decision log against plain Predict (medians of alternating rounds, distinct transactions)`);
  console.log(`  the shadow scored ${figures.shadowed.scored.toLocaleString('en-US')} transactions and shed ${figures.shadowed.shed.toLocaleString('en-US')} (its service's metrics)`);
  for (const [concurrency, shadow] of figures.shadowOverPlain) {
    const log = figures.decisionLogOverPlain.get(concurrency);
    console.log(
      `  c=${concurrency}: with a shadow ${(shadow.rpsRatio * 100).toFixed(1)} % of requests/s, p99 ${shadow.p99Ratio.toFixed(2)}x; ` +
        `with decision log files ${((log?.rpsRatio ?? Number.NaN) * 100).toFixed(1)} % of requests/s, p99 ${(log?.p99Ratio ?? Number.NaN).toFixed(2)}x`,
    );
  }
}

/**
 * The history pass as scoreTransactions runs it (the serving model's row
 * written for each transaction as the store hands its history), with the
 * shadow's row written beside it: the time of the shadow's writes alone,
 * each timed inside the pass, less the cost of the clock reads themselves
 * (the same timing around nothing), per transaction, median of `rounds`.
 */
export async function answerPathCost(rounds: number): Promise<ShadowFigures['answerPathMicros']> {
  const spec = loadFeatureSpec();
  const loader = new ModelLoader({ featureSpec: spec, featureCapabilities: { history: true, storeDescription: 'the bench' }, intraOpThreads: 1 });
  const load = async (path: string): Promise<ServingModel> => loader.load('binary', await new FileModelSource(pathToFileURL(path)).fetch());
  const serving = await load(HISTORY_MODEL);
  const challengers = { history: await load(HISTORY_MODEL), stateless: await load(STATELESS_MODEL) };
  const transactions = new TransactionStream(37).take(WRITE_ROWS);
  const pass = async (shadow: ServingModel | undefined): Promise<number> => {
    const store = new MemoryStateStore({ latenessSeconds: 86_400, historyDays: historyDays(spec), maxEntities: 1_000_000, maxTransactions: 1_000_000 });
    const input = serving.inputBuffer(WRITE_BATCH);
    const shadowInput = (shadow ?? serving).inputBuffer(WRITE_BATCH);
    let timed = 0;
    for (let start = 0; start < transactions.length; start += WRITE_BATCH) {
      const batch = transactions.slice(start, start + WRITE_BATCH);
      const events = batch.map((transaction) => ({
        id: transaction.transactionId ?? 0n,
        customerId: transaction.customerId ?? 0n,
        terminalId: transaction.terminalId ?? 0n,
        amount: transaction.txAmount ?? 0,
        time: eventTimeSeconds(transaction, spec.epochSeconds),
      }));
      await store.record(
        events,
        (index, history) => {
          const transaction = batch[index] as Transaction;
          serving.features.write(transaction, history, input, index);
          const started = performance.now();
          shadow?.features.write(transaction, history, shadowInput, index);
          timed += performance.now() - started;
        },
        { allOrNothing: true },
      );
    }
    return (timed * 1000) / transactions.length;
  };
  // Warm up the builders and the store before anything is timed.
  await pass(challengers.history);
  const cost = async (shadow: ServingModel): Promise<number> => {
    const differences: number[] = [];
    for (let round = 0; round < rounds; round++) differences.push((await pass(shadow)) - (await pass(undefined)));
    return medianBy(differences, (value) => value);
  };
  try {
    return { history: Math.max(0, await cost(challengers.history)), stateless: Math.max(0, await cost(challengers.stateless)) };
  } finally {
    for (const model of [serving, challengers.history, challengers.stateless]) model.retire();
  }
}

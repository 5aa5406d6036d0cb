/**
 * The transaction-id figure of `npm run bench`: 10,000-transaction batches
 * recorded into an embedded store whose transaction index is past
 * FRAUD_STATE_MAX_TRANSACTIONS (so every batch also forgets 10,000 entries),
 * with 64-bit ids at or above 2^53 against small ids, in alternating rounds on
 * the same machine. Payment systems use such ids; they must cost what small
 * ones cost. Runs in-process on the store alone (no gRPC), in a few seconds:
 *
 *   node dist/bench/transactionIdBench.js
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { historyDays, loadFeatureSpec } from '../src/features/featureSpec.js';
import { MemoryStateStore } from '../src/state/memoryStateStore.js';
import type { TransactionEvent } from '../src/state/stateStore.js';

const BATCH = 10_000;
/** A smaller index than the default 500,000 keeps the run short; forgetting costs the same per entry. */
const MAX_TRANSACTIONS = 100_000;
const ROUNDS = 5;
const BIG_BASE = 2n ** 60n;

export interface TransactionIdFigures {
  /** Median milliseconds per 10,000-transaction batch past the limit. */
  readonly smallIdsMs: number;
  readonly bigIdsMs: number;
}

/** A store filled past its transaction limit, and a function recording its next batch (timed). */
function filledStore(base: bigint): () => number {
  const store = new MemoryStateStore({ latenessSeconds: 86_400, historyDays: historyDays(loadFeatureSpec()), maxEntities: 1_000_000, maxTransactions: MAX_TRANSACTIONS });
  let next = 0;
  const batch = (): TransactionEvent[] =>
    Array.from({ length: BATCH }, (_, offset) => {
      const index = next++;
      // 5,000 cards and 10,000 terminals, as the simulator has; big ids get big card and terminal ids too.
      return { id: base + BigInt(index), customerId: base + BigInt(index % 5_000), terminalId: base + BigInt(10_000 + (index % 10_000)), amount: 10 + (offset % 90), time: 1_700_000_000 + index };
    });
  const record = (): number => {
    const events = batch();
    const started = performance.now();
    void store.record(events, () => undefined, { allOrNothing: true });
    return performance.now() - started;
  };
  while (next < MAX_TRANSACTIONS + BATCH) record();
  return record;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

export function transactionIdFigures(): TransactionIdFigures {
  const small = filledStore(1n);
  const big = filledStore(BIG_BASE);
  const smallMs: number[] = [];
  const bigMs: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    smallMs.push(small());
    bigMs.push(big());
  }
  return { smallIdsMs: median(smallMs), bigIdsMs: median(bigMs) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const figures = transactionIdFigures();
  console.log(`10,000-transaction batch past ${MAX_TRANSACTIONS.toLocaleString('en-US')} remembered transactions: small ids ${figures.smallIdsMs.toFixed(0)} ms, ids >= 2^53 ${figures.bigIdsMs.toFixed(0)} ms (ratio ${(figures.bigIdsMs / figures.smallIdsMs).toFixed(2)})`);
}

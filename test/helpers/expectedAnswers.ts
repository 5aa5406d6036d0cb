import type { TransactionInput } from '../../client/fraudClient.js';
import { loadFeatureSpec } from '../../src/features/featureSpec.js';
import { ModelLoader } from '../../src/models/modelLoader.js';
import type { ModelTask } from '../../src/models/modelTask.js';
import { fetched, type ModelFiles } from './modelFixtures.js';

/** tx_time_seconds counts from 2018-04-01T00:00:00Z, a Sunday. */
const HOUR = 3_600;
const DAY = 24 * HOUR;
/** Four times that cover both values of both time features: [seconds, TX_DURING_WEEKEND, TX_DURING_NIGHT]. */
const TIMES: readonly (readonly [number, number, number])[] = [
  [1 * HOUR, 1, 1], // Sunday 01:00
  [13 * HOUR, 1, 0], // Sunday 13:00
  [2 * DAY + 3 * HOUR, 0, 1], // Tuesday 03:00
  [2 * DAY + 14 * HOUR, 0, 0], // Tuesday 14:00
];
/** Amounts on both sides of the models' splits (scenario 1 is amount > 220). */
const AMOUNTS: readonly number[] = [3, 12, 27, 41, 57, 74, 96, 118, 150, 183, 219, 221, 260, 330, 480, 900];
/** Each model must tell at least this many transactions of the pool apart, or the check could not fail. */
const MIN_DISTINCT_ANSWERS = 6;

interface PoolEntry {
  readonly transaction: TransactionInput;
  readonly features: Readonly<Record<string, number>>;
}

/**
 * Distinct transactions and, for each model version, the probabilities it must
 * answer for each of them, computed here by running the model alone on one
 * transaction at a time (no shared runs). A load loop checks every answer
 * against its own transaction's row, so a service that hands one caller
 * another caller's rows fails.
 */
export class ExpectedAnswers {
  readonly transactions: readonly TransactionInput[];
  private readonly answers: ReadonlyMap<string, readonly (readonly number[])[]>;

  private constructor(transactions: readonly TransactionInput[], answers: ReadonlyMap<string, readonly (readonly number[])[]>) {
    this.transactions = transactions;
    this.answers = answers;
  }

  /** The reference answers of `models` (manifest and .onnx each) over the transaction pool. */
  static async of(models: readonly ModelFiles[]): Promise<ExpectedAnswers> {
    const pool = transactionPool();
    const loader = new ModelLoader({ featureSpec: loadFeatureSpec(), intraOpThreads: 1 });
    const answers = new Map<string, (readonly number[])[]>();
    for (const files of models) {
      const key = answerKey(String(files.manifest.name), String(files.manifest.version));
      if (answers.has(key)) throw new Error(`two reference models are ${key}; give them distinct versions`);
      const model = await loader.load(files.manifest.task as ModelTask, fetched(files));
      try {
        const rows: (readonly number[])[] = [];
        for (const entry of pool) {
          const input = model.inputBuffer(1);
          model.manifest.features.forEach((name, column) => {
            const value = entry.features[name];
            if (value === undefined) throw new Error(`the transaction pool has no value of ${name}, which ${key} reads`);
            input[column] = value;
          });
          // In class-id order, as answers give them (the legitimate class first, whatever the model's columns).
          const output = await model.probabilities(input, 1);
          rows.push(model.classes.map(({ id }) => model.probabilityOf(output, 0, id)));
        }
        const distinct = new Set(rows.map((row) => row.join(','))).size;
        if (distinct < MIN_DISTINCT_ANSWERS) throw new Error(`${key} gives only ${distinct} distinct answers over the pool: a mixed-up answer could pass unseen`);
        answers.set(key, rows);
      } finally {
        model.retire();
      }
    }
    return new ExpectedAnswers(
      pool.map((entry) => entry.transaction),
      answers,
    );
  }

  /** What `name` `version` must answer for transaction `index`, or undefined for a version with no reference. */
  probabilities(name: string, version: string, index: number): readonly number[] | undefined {
    return this.answers.get(answerKey(name, version))?.[index];
  }
}

function answerKey(name: string, version: string): string {
  return `${name} ${version}`;
}

/**
 * The history features of a card's first transaction (models/feature-spec.json,
 * history vector "a customer's first transaction at a terminal with no
 * history"): the card's windows hold only the transaction itself; terminal
 * windows end 7 days before its day, before any transaction of the pool.
 */
function firstTransactionHistory(amount: number): Record<string, number> {
  const card: Record<string, number> = {};
  for (const days of [1, 7, 30]) {
    card[`CUSTOMER_ID_NB_TX_${days}DAY_WINDOW`] = 1;
    card[`CUSTOMER_ID_AVG_AMOUNT_${days}DAY_WINDOW`] = amount;
    card[`TERMINAL_ID_NB_TX_${days}DAY_WINDOW`] = 0;
    card[`TERMINAL_ID_RISK_${days}DAY_WINDOW`] = 0;
  }
  // No outcome is ever reported for the pool, so neither streak finds a confirmed fraud.
  const streaks = { TERMINAL_ID_FRAUD_STREAK_30DAY_WINDOW: 0, TERMINAL_ID_FRAUD_STREAK_LATEST_30DAY_WINDOW: 0 };
  return { ...card, CUSTOMER_ID_AMOUNT_OVER_AVG_30DAY_WINDOW: 1, CUSTOMER_ID_AMOUNT_OVER_MAX_30DAY_WINDOW: 1, ...streaks };
}

/**
 * Every amount at every time, each the first transaction of its own card:
 * transactions whose features are known without the service's code, whatever
 * order the calls arrive in (a retry is scored as of its own event time).
 */
function transactionPool(): PoolEntry[] {
  const pool: PoolEntry[] = [];
  for (const [timeIndex, [seconds, weekend, night]] of TIMES.entries()) {
    for (const amount of AMOUNTS) {
      const id = pool.length + 1;
      pool.push({
        transaction: { transactionId: 10_000 + id, customerId: 100 + id, terminalId: 500 + timeIndex, txAmount: amount, txTimeSeconds: seconds },
        features: { TX_AMOUNT: amount, TX_DURING_WEEKEND: weekend, TX_DURING_NIGHT: night, ...firstTransactionHistory(amount) },
      });
    }
  }
  return pool;
}

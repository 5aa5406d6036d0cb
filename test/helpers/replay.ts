import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FraudClient, OutcomeInput, TransactionInput } from '../../client/fraudClient.js';
import { packageRoot } from '../../src/packageRoot.js';

const execFileAsync = promisify(execFile);

export interface ReplayEvent {
  readonly transaction?: { transaction_id: number; customer_id: number; terminal_id: number; tx_amount: number; tx_time_seconds: number };
  readonly outcome?: { transaction_id: number; outcome: 'fraud' | 'legitimate'; known_at_seconds: number; supersedes?: boolean };
}

export interface Replay {
  readonly events: readonly ReplayEvent[];
  /** The offline pipeline's features of each transaction, by id. */
  readonly features: ReadonlyMap<number, Readonly<Record<string, number>>>;
  readonly tolerance: number;
}

/** Runs the training pipeline's CLI (`training/run`) and returns its standard output. */
export async function trainingRun(args: readonly string[]): Promise<string> {
  const { stdout } = await execFileAsync(join(packageRoot, 'training', 'run'), args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/**
 * The training pipeline's replay files (`training/run replay`) for a simulated
 * period: `options` are the replay command's (seed, size, corrections).
 */
export async function simulatedReplay(folder: string, options: readonly string[]): Promise<Replay> {
  await trainingRun(['replay', '--out', folder, ...options]);
  const lines = async (name: string): Promise<unknown[]> =>
    (await readFile(join(folder, name), 'utf8'))
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as unknown);
  const events = (await lines('events.jsonl')) as ReplayEvent[];
  const features = new Map(
    ((await lines('features.jsonl')) as { transaction_id: number; features: Record<string, number> }[]).map((entry) => [entry.transaction_id, entry.features]),
  );
  const meta = JSON.parse(await readFile(join(folder, 'replay.json'), 'utf8')) as { tolerance?: number };
  return { events, features, tolerance: meta.tolerance ?? 1e-6 };
}

/**
 * Feeds the replay through the service as production would: transactions by
 * PredictBatch (explain on), outcomes by ReportOutcomeBatch, in arrival order
 * (a batch of transactions ends where a fraud outcome comes), and returns the
 * features the model saw for each transaction. Legitimate first reports
 * change no feature (feature spec, history.rules), so where they fall between
 * transactions does not matter: they go in large batches. Corrections
 * (supersedes) go in order, as fraud reports do.
 */
export async function feed(client: FraudClient, events: readonly ReplayEvent[]): Promise<Map<number, Record<string, number>>> {
  const seen = new Map<number, Record<string, number>>();
  let transactions: TransactionInput[] = [];
  let outcomes: OutcomeInput[] = [];
  let legitimate: OutcomeInput[] = [];
  const flushTransactions = async (): Promise<void> => {
    if (transactions.length === 0) return;
    const answer = await client.predictBatch(transactions, { explain: true });
    answer.predictions.forEach((prediction) => seen.set(Number(prediction.transactionId), prediction.features));
    transactions = [];
  };
  const flushOutcomes = async (): Promise<void> => {
    if (outcomes.length === 0) return;
    await client.reportOutcomes(outcomes);
    outcomes = [];
  };
  for (const event of events) {
    if (event.outcome?.outcome === 'legitimate' && event.outcome.supersedes !== true) {
      legitimate.push({ transactionId: event.outcome.transaction_id, outcome: 'legitimate', knownAtSeconds: event.outcome.known_at_seconds });
      if (legitimate.length === 5_000) {
        await client.reportOutcomes(legitimate);
        legitimate = [];
      }
    } else if (event.transaction !== undefined) {
      await flushOutcomes();
      const { transaction_id, customer_id, terminal_id, tx_amount, tx_time_seconds } = event.transaction;
      transactions.push({ transactionId: transaction_id, customerId: customer_id, terminalId: terminal_id, txAmount: tx_amount, txTimeSeconds: tx_time_seconds });
      if (transactions.length === 5_000) await flushTransactions();
    } else if (event.outcome !== undefined) {
      await flushTransactions();
      const { transaction_id, outcome, known_at_seconds, supersedes } = event.outcome;
      outcomes.push({ transactionId: transaction_id, outcome, knownAtSeconds: known_at_seconds, supersedes: supersedes === true });
    }
  }
  await flushTransactions();
  await flushOutcomes();
  if (legitimate.length > 0) await client.reportOutcomes(legitimate);
  return seen;
}

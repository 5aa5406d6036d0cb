import { readFile, rename, writeFile } from 'node:fs/promises';
import type { OutcomeResult, PredictBatchResponse } from '../src/gen/fraud/v1/fraud_service.js';
import type { CallOptions, OutcomeInput, ScoreOptions, TransactionInput } from './fraudClient.js';
import { outcomeStatusName } from './outcomeCommand.js';
import type { HistoryRow } from './transactionFile.js';

/** What warm start needs of a client. */
export interface WarmStartClient {
  predictBatch(transactions: readonly TransactionInput[], options?: ScoreOptions): Promise<PredictBatchResponse>;
  reportOutcomes(outcomes: readonly OutcomeInput[], options?: CallOptions): Promise<OutcomeResult[]>;
}

export interface WarmStartOptions {
  /** Transactions per PredictBatch call (at most the service's FRAUD_MAX_BATCH_SIZE). */
  readonly batchSize: number;
  /**
   * When a row's fraud label (TX_FRAUD) becomes known, after the transaction's
   * event time: the label delay the models were trained with (7 days).
   */
  readonly outcomeDelaySeconds: number;
  /** Where progress is kept, so an interrupted run resumes; undefined for none. */
  readonly checkpointPath: string | undefined;
  /** Input rows already loaded by an earlier run (from the checkpoint). */
  readonly onProgress?: (rows: number) => void;
}

export interface WarmStartSummary {
  readonly rows: number;
  /** Rows skipped because an earlier run had loaded them. */
  readonly resumedFrom: number;
  readonly transactions: number;
  /** Fraud outcomes reported, by status (applied, duplicate, …). */
  readonly outcomes: Readonly<Record<string, number>>;
}

/** What the checkpoint file holds: rows of the input fully loaded, transactions and outcomes included. */
interface Checkpoint {
  readonly input: string;
  readonly rows: number;
  readonly updatedAt: string;
}

/** A fraud outcome waiting for the history to reach its known time. */
interface PendingOutcome {
  readonly transactionId: bigint;
  /** Unix milliseconds. */
  readonly knownAt: number;
}

/**
 * Loads past transactions and their fraud outcomes into the service's state
 * store, through the service: transactions in time order by PredictBatch,
 * each fraud label reported by ReportOutcomeBatch once the history has
 * reached the time it became known (event time + the label delay). Resumable:
 * the checkpoint records the rows loaded; a rerun skips them (re-reading
 * them only for the outcomes still pending) and anything sent twice counts
 * once, because the service records transactions and outcomes by id.
 */
export async function warmStart(
  client: WarmStartClient,
  rows: AsyncIterable<HistoryRow>,
  input: string,
  options: WarmStartOptions,
): Promise<WarmStartSummary> {
  const checkpoint = await readCheckpoint(options.checkpointPath, input);
  const pending: PendingOutcome[] = [];
  const outcomes: Record<string, number> = {};
  let batch: HistoryRow[] = [];
  let rowNumber = 0;
  let loadedRows = checkpoint;
  let transactions = 0;

  const report = async (upTo: number | undefined): Promise<void> => {
    // Outcomes are kept in known-time order: report those the history has reached.
    const due: PendingOutcome[] = [];
    while (pending.length > 0 && (upTo === undefined || (pending[0] as PendingOutcome).knownAt <= upTo)) due.push(pending.shift() as PendingOutcome);
    for (let start = 0; start < due.length; start += options.batchSize) {
      const results = await client.reportOutcomes(
        due.slice(start, start + options.batchSize).map((outcome) => ({ transactionId: outcome.transactionId, outcome: 'fraud', knownAt: new Date(outcome.knownAt) })),
      );
      for (const result of results) {
        const name = outcomeStatusName(result.status);
        outcomes[name] = (outcomes[name] ?? 0) + 1;
      }
    }
  };

  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const answer = await client.predictBatch(batch.map((row) => row.transaction));
    transactions += answer.predictions.length;
    const newest = batch.reduce((most, row) => Math.max(most, row.time), Number.NEGATIVE_INFINITY);
    loadedRows = rowNumber;
    batch = [];
    await report(newest);
    await saveCheckpoint(options.checkpointPath, { input, rows: loadedRows, updatedAt: new Date().toISOString() });
    options.onProgress?.(loadedRows);
  };

  for await (const row of rows) {
    rowNumber++;
    if (row.fraud) {
      insertByKnownTime(pending, { transactionId: BigInt(row.transaction.transactionId), knownAt: row.time + options.outcomeDelaySeconds * 1000 });
    }
    if (rowNumber <= checkpoint) continue;
    batch.push(row);
    if (batch.length >= options.batchSize) await flush();
  }
  await flush();
  // Labels known after the last transaction are part of the history too.
  await report(undefined);
  return { rows: rowNumber, resumedFrom: checkpoint, transactions, outcomes };
}

function insertByKnownTime(pending: PendingOutcome[], outcome: PendingOutcome): void {
  let index = pending.length;
  while (index > 0 && (pending[index - 1] as PendingOutcome).knownAt > outcome.knownAt) index--;
  pending.splice(index, 0, outcome);
}

async function readCheckpoint(path: string | undefined, input: string): Promise<number> {
  if (path === undefined) return 0;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  const checkpoint = JSON.parse(text) as Partial<Checkpoint>;
  if (checkpoint.input !== input || typeof checkpoint.rows !== 'number' || checkpoint.rows < 0) {
    throw new WarmStartError(`checkpoint ${path} belongs to another input (${String(checkpoint.input)}); remove it or pass the same --input`);
  }
  return checkpoint.rows;
}

async function saveCheckpoint(path: string | undefined, checkpoint: Checkpoint): Promise<void> {
  if (path === undefined) return;
  await writeFile(`${path}.tmp`, `${JSON.stringify(checkpoint)}\n`);
  await rename(`${path}.tmp`, path);
}

/** A warm start that cannot go on (a foreign checkpoint); exit code 2. */
export class WarmStartError extends Error {
  override readonly name = 'WarmStartError';
}

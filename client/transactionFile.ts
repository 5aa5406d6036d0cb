import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { TransactionInput } from './fraudClient.js';

/** A line of a transaction file that cannot be read; `line` is 1-based. */
export class TransactionFileError extends Error {
  override readonly name = 'TransactionFileError';

  constructor(
    readonly line: number,
    problem: string,
  ) {
    super(`line ${line}: ${problem}`);
  }
}

export type TransactionFileFormat = 'csv' | 'jsonl';

/** The epoch of tx_time_seconds, from the API contract (proto/fraud/v1/fraud_service.proto). */
const SIMULATOR_EPOCH_MS = Date.UTC(2018, 3, 1);

/** A row of a history file: the transaction, its event time and whether it was fraud (TX_FRAUD). */
export interface HistoryRow {
  readonly transaction: TransactionInput;
  /** Event time, Unix milliseconds (tx_datetime, or the epoch + tx_time_seconds). */
  readonly time: number;
  readonly fraud: boolean;
}

/**
 * Reads transactions from CSV (a header row; column names as in the REST body
 * or the simulator's upper-case columns, e.g. TX_AMOUNT) or JSON Lines (one
 * REST body per line). Streams, so files of millions of rows are fine.
 */
export async function* readTransactions(input: Readable, format: TransactionFileFormat): AsyncGenerator<TransactionInput> {
  for await (const { record, line } of readRecords(input, format)) yield fromRecord(record, line);
}

/** The rows of a CSV (with a header row) or JSON Lines file, as lower-case keyed records. */
async function* readRecords(input: Readable, format: TransactionFileFormat): AsyncGenerator<{ record: Record<string, unknown>; line: number }> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let header: string[] | undefined;
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber++;
    if (line.trim() === '') continue;
    if (format === 'jsonl') {
      yield { record: parseJsonLine(line, lineNumber), line: lineNumber };
    } else if (header === undefined) {
      header = line.split(',').map((name) => name.trim().toLowerCase());
    } else {
      const cells = line.split(',');
      yield { record: Object.fromEntries(header.map((name, index) => [name, cells[index]?.trim() ?? ''])), line: lineNumber };
    }
  }
}

/** Transactions with their fraud label (a tx_fraud column, 0 or 1; absent means not fraud), e.g. the simulator's CSV. */
export async function* readHistory(input: Readable, format: TransactionFileFormat): AsyncGenerator<HistoryRow> {
  for await (const { record, line } of readRecords(input, format)) {
    const transaction = fromRecord(record, line);
    const label = record.tx_fraud;
    if (label !== undefined && label !== '' && label !== '0' && label !== '1' && label !== 0 && label !== 1) {
      throw new TransactionFileError(line, `tx_fraud must be 0 or 1, got ${JSON.stringify(label)}`);
    }
    const time = transaction.txDatetime?.getTime() ?? SIMULATOR_EPOCH_MS + Number(transaction.txTimeSeconds ?? Number.NaN) * 1000;
    if (Number.isNaN(time)) throw new TransactionFileError(line, 'tx_datetime or tx_time_seconds is required');
    yield { transaction, time, fraud: label === '1' || label === 1 };
  }
}

function parseJsonLine(line: string, lineNumber: number): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new TransactionFileError(lineNumber, `not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TransactionFileError(lineNumber, 'not a JSON object');
  }
  return Object.fromEntries(Object.entries(value).map(([key, cell]) => [key.toLowerCase(), cell]));
}

function fromRecord(record: Record<string, unknown>, lineNumber: number): TransactionInput {
  const integer = (name: string, required: boolean): bigint | undefined => {
    const value = record[name];
    if (value === undefined || value === '' || value === null) {
      if (required) throw new TransactionFileError(lineNumber, `${name} is missing`);
      return undefined;
    }
    const text = typeof value === 'string' || typeof value === 'number' ? String(value) : '';
    if (!/^-?\d+$/.test(text)) throw new TransactionFileError(lineNumber, `${name} must be an integer, got ${JSON.stringify(value)}`);
    return BigInt(text);
  };
  const amountValue = record.tx_amount;
  const amount = typeof amountValue === 'number' ? amountValue : Number(amountValue ?? Number.NaN);
  if (amountValue === undefined || amountValue === '' || Number.isNaN(amount)) {
    throw new TransactionFileError(lineNumber, `tx_amount must be a number, got ${JSON.stringify(amountValue)}`);
  }
  const datetimeValue = record.tx_datetime;
  let txDatetime: Date | undefined;
  if (typeof datetimeValue === 'string' && datetimeValue !== '') {
    // The simulator writes "2018-04-01 00:00:31" with no zone: the feature spec's clock is UTC.
    const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(datetimeValue) ? datetimeValue : `${datetimeValue.replace(' ', 'T')}Z`;
    txDatetime = new Date(iso);
    if (Number.isNaN(txDatetime.getTime())) throw new TransactionFileError(lineNumber, `tx_datetime is not a date-time: ${datetimeValue}`);
  }
  const features = record.features;
  return {
    transactionId: integer('transaction_id', true) ?? 0n,
    customerId: integer('customer_id', true) ?? 0n,
    terminalId: integer('terminal_id', true) ?? 0n,
    txAmount: amount,
    txTimeSeconds: integer('tx_time_seconds', false),
    txTimeDays: integer('tx_time_days', false),
    txDatetime,
    features: typeof features === 'object' && features !== null ? (features as Record<string, number>) : undefined,
  };
}

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
  for await (const { record, line } of readRecords(input, format, TRANSACTION_COLUMNS)) yield fromRecord(record, line);
}

/** The columns (CSV) or keys (JSON Lines) a file may have, lower-case, and how to name them in an error. */
export interface FileColumns {
  readonly known: ReadonlySet<string>;
  readonly expected: string;
}

/** A transaction file's columns: the REST body's fields, and the simulator's labels (read by warm-start only). */
const TRANSACTION_COLUMNS: FileColumns = {
  known: new Set(['transaction_id', 'customer_id', 'terminal_id', 'tx_amount', 'tx_time_seconds', 'tx_datetime', 'tx_time_days', 'tx_fraud', 'tx_fraud_scenario', 'features']),
  expected:
    'transaction_id, customer_id, terminal_id, tx_amount, and tx_time_seconds or tx_datetime; optional tx_time_days, features (JSON Lines), tx_fraud and tx_fraud_scenario (any case)',
};

/**
 * The rows of a CSV (with a header row) or JSON Lines file, as lower-case keyed
 * records. A column or key outside `columns` is refused, naming the expected
 * ones: a misnamed column would otherwise surface as a field "missing" on the
 * first row, or (an optional one) be silently ignored.
 */
export async function* readRecords(
  input: Readable,
  format: TransactionFileFormat,
  columns: FileColumns,
): AsyncGenerator<{ record: Record<string, unknown>; line: number }> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let header: string[] | undefined;
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber++;
    if (line.trim() === '') continue;
    if (format === 'jsonl') {
      const record = parseJsonLine(line, lineNumber);
      checkColumns(Object.keys(record), columns, lineNumber, 'keys');
      yield { record, line: lineNumber };
    } else if (header === undefined) {
      header = line.split(',').map((name) => name.trim().toLowerCase());
      checkColumns(header, columns, lineNumber, 'columns');
    } else {
      const cells = line.split(',');
      yield { record: Object.fromEntries(header.map((name, index) => [name, cells[index]?.trim() ?? ''])), line: lineNumber };
    }
  }
}

/** Transactions with their fraud label (a tx_fraud column, 0 or 1; absent means not fraud), e.g. the simulator's CSV. */
export async function* readHistory(input: Readable, format: TransactionFileFormat): AsyncGenerator<HistoryRow> {
  for await (const { record, line } of readRecords(input, format, TRANSACTION_COLUMNS)) {
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

function checkColumns(names: readonly string[], columns: FileColumns, line: number, what: 'columns' | 'keys'): void {
  const unknown = names.filter((name) => !columns.known.has(name));
  if (unknown.length === 0) return;
  const shown = unknown.map((name) => (name === '' ? '(empty)' : name)).join(', ');
  throw new TransactionFileError(line, `unknown ${what} ${shown}; expected ${columns.expected}`);
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
  // proto3 JSON's lowerCamelCase names (transactionId) are the same fields as the snake_case ones.
  return Object.fromEntries(Object.entries(value).map(([key, cell]) => [key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase(), cell]));
}

/** An integer cell or key (a bigint); undefined when absent or empty and not required. */
export function integerOf(record: Record<string, unknown>, name: string, required: boolean, lineNumber: number): bigint | undefined {
  const value = record[name];
  if (value === undefined || value === '' || value === null) {
    if (required) throw new TransactionFileError(lineNumber, `${name} is missing`);
    return undefined;
  }
  const text = typeof value === 'string' || typeof value === 'number' ? String(value) : '';
  if (!/^-?\d+$/.test(text)) throw new TransactionFileError(lineNumber, `${name} must be an integer, got ${JSON.stringify(value)}`);
  return BigInt(text);
}

/** A date-time cell or key; undefined when absent or empty. */
export function dateTimeOf(record: Record<string, unknown>, name: string, lineNumber: number): Date | undefined {
  const value = record[name];
  if (typeof value !== 'string' || value === '') return undefined;
  // The simulator writes "2018-04-01 00:00:31" with no zone: the feature spec's clock is UTC.
  const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value.replace(' ', 'T')}Z`;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) throw new TransactionFileError(lineNumber, `${name} is not a date-time: ${value}`);
  return date;
}

function fromRecord(record: Record<string, unknown>, lineNumber: number): TransactionInput {
  const amountValue = record.tx_amount;
  const amount = typeof amountValue === 'number' ? amountValue : Number(amountValue ?? Number.NaN);
  if (amountValue === undefined || amountValue === '' || Number.isNaN(amount)) {
    throw new TransactionFileError(lineNumber, `tx_amount must be a number, got ${JSON.stringify(amountValue)}`);
  }
  const features = record.features;
  return {
    transactionId: integerOf(record, 'transaction_id', true, lineNumber) ?? 0n,
    customerId: integerOf(record, 'customer_id', true, lineNumber) ?? 0n,
    terminalId: integerOf(record, 'terminal_id', true, lineNumber) ?? 0n,
    txAmount: amount,
    txTimeSeconds: integerOf(record, 'tx_time_seconds', false, lineNumber),
    txTimeDays: integerOf(record, 'tx_time_days', false, lineNumber),
    txDatetime: dateTimeOf(record, 'tx_datetime', lineNumber),
    features: typeof features === 'object' && features !== null ? (features as Record<string, number>) : undefined,
  };
}

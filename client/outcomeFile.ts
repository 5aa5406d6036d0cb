import type { Readable } from 'node:stream';
import type { OutcomeInput } from './fraudClient.js';
import { dateTimeOf, integerOf, readRecords, TransactionFileError, type FileColumns, type TransactionFileFormat } from './transactionFile.js';

const OUTCOME_COLUMNS: FileColumns = {
  known: new Set(['transaction_id', 'outcome', 'known_at', 'known_at_seconds', 'supersedes']),
  expected: 'transaction_id, outcome (fraud or legitimate), optional known_at (ISO-8601) or known_at_seconds, and optional supersedes (true or false) (any case)',
};

/**
 * The outcome an option or a file names: fraud or legitimate, in any case, or
 * the API's enum names (OUTCOME_FRAUD), as a REST body writes them.
 */
export function parseOutcome(text: string): OutcomeInput['outcome'] | undefined {
  const name = text.trim().toLowerCase().replace(/^outcome_/, '');
  return name === 'fraud' || name === 'legitimate' ? name : undefined;
}

/**
 * Reads outcomes from CSV (a header row: transaction_id, outcome, known_at or
 * known_at_seconds) or JSON Lines (one `POST /v1/outcomes` body per line). Streams.
 */
export async function* readOutcomes(input: Readable, format: TransactionFileFormat): AsyncGenerator<OutcomeInput> {
  for await (const { record, line } of readRecords(input, format, OUTCOME_COLUMNS)) {
    const value = record.outcome;
    const outcome = typeof value === 'string' ? parseOutcome(value) : undefined;
    if (outcome === undefined) throw new TransactionFileError(line, `outcome must be fraud or legitimate, got ${JSON.stringify(value)}`);
    yield {
      transactionId: integerOf(record, 'transaction_id', true, line) ?? 0n,
      outcome,
      knownAt: dateTimeOf(record, 'known_at', line),
      knownAtSeconds: integerOf(record, 'known_at_seconds', false, line),
      supersedes: supersedesOf(record.supersedes, line),
    };
  }
}

/** A supersedes cell or key: true or false (any case, or 1 and 0); absent or empty is false. */
function supersedesOf(value: unknown, line: number): boolean {
  if (value === undefined || value === null || value === '' || value === false) return false;
  if (value === true) return true;
  const text = typeof value === 'string' || typeof value === 'number' ? String(value).trim().toLowerCase() : '';
  if (text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0') return false;
  throw new TransactionFileError(line, `supersedes must be true or false, got ${JSON.stringify(value)}`);
}

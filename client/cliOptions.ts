import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { OutcomeInput, TransactionInput } from './fraudClient.js';
import { parseOutcome } from './outcomeFile.js';
import type { TransactionFileFormat } from './transactionFile.js';

/** fraud-cli's usage text, options, and the parsing of option values into call inputs. */

/** A command line that cannot be run; exit code 2. */
export class UsageError extends Error {}

export const USAGE = `usage: fraud-cli <command> [options]

commands:
  predict    score one transaction with the binary model (fraud or not)
  scenario   classify one transaction with the scenario model
  batch      score a CSV or JSON Lines file of transactions
  models     show the serving model versions (models info), or:
  models compare   champion against challenger from the service's live quality, with confidence intervals and the gate
  models promote   compare, then merge the candidate lakeFS branch into the serving branch if the gate passes
  models rollback  revert the serving lakeFS branch's last commit (back to the previous models)
  health     check the service's health
  warm-start load past transactions and their fraud labels into the service's history
  outcome    report a scored transaction's confirmed outcome (fraud or legitimate), or a file of them

transaction options (predict, scenario):
  --transaction-id N --customer-id N --terminal-id N --amount X
  --time-seconds N | --datetime ISO-8601   [--time-days N]   [--feature NAME=VALUE ...]
  --explain (print the feature values the model saw)

batch options:
  --input PATH (default: stdin)  --format csv|jsonl (default: from the file extension)
  --task binary|scenario (default: binary)  --batch-size N (default 1000; up to 100 per stream message)  --concurrency N (ignored: one stream)

warm-start options:
  --input PATH (a CSV or JSON Lines file in time order, e.g. the simulator's columns with TX_FRAUD)
  --checkpoint PATH (resume an interrupted load)   --batch-size N (default 5000)
  --outcome-delay-days N (default 7: a TX_FRAUD label becomes known this long after the transaction)

outcome options:
  --transaction-id N --outcome fraud|legitimate   [--known-at ISO-8601 | --known-at-seconds N] (default: now)
     [--supersedes (a correction: replaces the outcome recorded, from known_at on)]
  or --input PATH (CSV or JSON Lines: transaction_id, outcome, known_at or known_at_seconds, supersedes; - for stdin)
     --format csv|jsonl   --batch-size N (default 1000)

models compare options (also promote's):
  --task binary|scenario (default: binary)   --window Nd (default 7d: the last N event days, UTC)
  --champion REVISION --challenger REVISION (default: the task's serving and shadow model, from GetModelInfo)
  --confidence X (default 0.95)   --resamples N (default 2000)   --seed N (default 1: same figures run after run)
gate options (compare prints the gate; promote needs it to pass):
  --min-frauds N (default 50: frauds each model's figures rest on)
  --max-auc-loss X --max-ap-loss X (default 0: the difference interval's lower bound must be >= -X)
  --min-recall-gain X (optional: the recall difference's lower bound must be >= X)

models promote / rollback options (lakeFS; key pair from $LAKEFS_ACCESS_KEY_ID and $LAKEFS_SECRET_ACCESS_KEY only):
  --lakefs-endpoint URL (e.g. http://lakefs:8000)   --repository NAME   --lakefs-ca-file PATH (https with a private CA)
  promote: --source BRANCH (default candidate) --destination BRANCH (default main)
           --dry-run (check everything, merge nothing)   --force (merge although the gate fails)
  rollback: --branch BRANCH (default main)   --dry-run

common options:
  --address HOST:PORT (default: $FRAUD_ADDRESS or localhost:50051)
  --deadline-ms N (default 5000)   --json (machine-readable output)   --help

security options (a service with FRAUD_TLS_* or FRAUD_AUTH_* set):
  --tls (TLS, trusting the system's CAs)   --tls-ca-file PATH (TLS, trusting this CA's PEM)
  --tls-cert-file PATH --tls-key-file PATH (a client certificate, for mutual TLS)
  --tls-server-name NAME (the name the service's certificate carries, if not the address's host)
  --token-file PATH (a file holding the bearer token; default: $FRAUD_TOKEN), sent as authorization: Bearer
health options:
  --service NAME (default: the whole server)

exit codes: 0 done (health: SERVING), 1 the call failed, or an outcome was not recorded (health: not serving),
            or promote/rollback refused,
            2 bad command line`;

export const OPTIONS = {
  address: { type: 'string' },
  'deadline-ms': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
  'transaction-id': { type: 'string' },
  'customer-id': { type: 'string' },
  'terminal-id': { type: 'string' },
  amount: { type: 'string' },
  'time-seconds': { type: 'string' },
  'time-days': { type: 'string' },
  datetime: { type: 'string' },
  feature: { type: 'string', multiple: true },
  input: { type: 'string' },
  format: { type: 'string' },
  task: { type: 'string' },
  'batch-size': { type: 'string' },
  concurrency: { type: 'string' },
  service: { type: 'string' },
  checkpoint: { type: 'string' },
  explain: { type: 'boolean', default: false },
  'outcome-delay-days': { type: 'string' },
  outcome: { type: 'string' },
  'known-at': { type: 'string' },
  'known-at-seconds': { type: 'string' },
  tls: { type: 'boolean', default: false },
  'tls-ca-file': { type: 'string' },
  'tls-cert-file': { type: 'string' },
  'tls-key-file': { type: 'string' },
  'tls-server-name': { type: 'string' },
  'token-file': { type: 'string' },
  supersedes: { type: 'boolean', default: false },
  champion: { type: 'string' },
  challenger: { type: 'string' },
  window: { type: 'string' },
  confidence: { type: 'string' },
  resamples: { type: 'string' },
  seed: { type: 'string' },
  'min-frauds': { type: 'string' },
  'max-auc-loss': { type: 'string' },
  'max-ap-loss': { type: 'string' },
  'min-recall-gain': { type: 'string' },
  'lakefs-endpoint': { type: 'string' },
  'lakefs-ca-file': { type: 'string' },
  repository: { type: 'string' },
  source: { type: 'string' },
  destination: { type: 'string' },
  branch: { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  force: { type: 'boolean', default: false },
} as const satisfies ParseArgsConfig['options'];

export type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>['values'];

export function transactionFrom(values: Values): TransactionInput {
  const seconds = optionalInteger(values['time-seconds'], '--time-seconds');
  const datetime = values.datetime === undefined ? undefined : new Date(values.datetime);
  if (datetime !== undefined && Number.isNaN(datetime.getTime())) throw new UsageError(`--datetime must be an ISO-8601 date-time, got ${values.datetime ?? ''}`);
  if (seconds === undefined && datetime === undefined) throw new UsageError('--time-seconds or --datetime is required');
  return {
    transactionId: requiredInteger(values['transaction-id'], '--transaction-id'),
    customerId: requiredInteger(values['customer-id'], '--customer-id'),
    terminalId: requiredInteger(values['terminal-id'], '--terminal-id'),
    txAmount: requiredNumber(values.amount, '--amount'),
    txTimeSeconds: seconds,
    txTimeDays: optionalInteger(values['time-days'], '--time-days'),
    txDatetime: datetime,
    features: Object.fromEntries((values.feature ?? []).map(parseFeature)),
  };
}

export function outcomeFrom(values: Values): OutcomeInput {
  const outcome = values.outcome === undefined ? undefined : parseOutcome(values.outcome);
  if (outcome === undefined) throw new UsageError(`--outcome must be fraud or legitimate${values.outcome === undefined ? '' : `, got ${values.outcome}`} (or --input PATH)`);
  const knownAt = values['known-at'] === undefined ? undefined : new Date(values['known-at']);
  if (knownAt !== undefined && Number.isNaN(knownAt.getTime())) throw new UsageError(`--known-at must be an ISO-8601 date-time, got ${values['known-at'] ?? ''}`);
  return {
    transactionId: requiredInteger(values['transaction-id'], '--transaction-id'),
    outcome,
    knownAt,
    knownAtSeconds: optionalInteger(values['known-at-seconds'], '--known-at-seconds'),
    supersedes: values.supersedes,
  };
}

function parseFeature(text: string): [string, number] {
  const match = /^([A-Za-z][A-Za-z0-9_]*)=(.+)$/.exec(text);
  const value = Number(match?.[2]);
  if (match === null || Number.isNaN(value)) throw new UsageError(`--feature must be NAME=NUMBER, got ${text}`);
  return [match[1] as string, value];
}

function requiredInteger(value: string | undefined, option: string): bigint {
  const parsed = optionalInteger(value, option);
  if (parsed === undefined) throw new UsageError(`${option} is required`);
  return parsed;
}

function optionalInteger(value: string | undefined, option: string): bigint | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new UsageError(`${option} must be an integer, got ${value}`);
  return BigInt(value);
}

function requiredNumber(value: string | undefined, option: string): number {
  if (value === undefined) throw new UsageError(`${option} is required`);
  const parsed = Number(value);
  if (value.trim() === '' || (Number.isNaN(parsed) && value !== 'NaN')) throw new UsageError(`${option} must be a number, got ${value}`);
  return parsed;
}

export function positiveInteger(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`${option} must be a positive integer, got ${value}`);
  return Number(value);
}

export function fileFormat(input: string | undefined, format: string | undefined): TransactionFileFormat {
  if (format === 'csv' || format === 'jsonl') return format;
  if (format !== undefined) throw new UsageError(`--format must be csv or jsonl, got ${format}`);
  if (input?.endsWith('.csv')) return 'csv';
  if (input?.endsWith('.jsonl') || input?.endsWith('.ndjson')) return 'jsonl';
  throw new UsageError('--format csv|jsonl is required when the input is not a .csv or .jsonl file');
}

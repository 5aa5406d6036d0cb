import type { Transaction } from '../gen/fraud/v1/fraud_service.js';
import type { ServingModel } from '../models/servingModel.js';
import type { FieldViolation } from './apiErrors.js';
import { echoed } from './echoed.js';
import { TIMESTAMP_MAX_SECONDS } from './requestDecoding.js';

/** A batch with thousands of bad items gets this many violations back, not thousands. */
export const MAX_VIOLATIONS = 100;

const SECONDS_PER_DAY = 86_400n;

/** tx_time_seconds 0: the model's features turn it into the epoch's Unix time. */
const EPOCH = { txTimeSeconds: 0n, features: {} };

/**
 * The violations of one call, up to MAX_VIOLATIONS. One list serves a whole
 * batch: `at` moves it to the next transaction, and a field path such as
 * `transactions[3].tx_amount` is built only when something is wrong (batches
 * hold thousands of valid transactions).
 */
export class ViolationList {
  readonly items: FieldViolation[] = [];
  private path: string | number = '';

  /** `collection` names the repeated field a batch index refers to. */
  constructor(private readonly collection: 'transactions' | 'outcomes' = 'transactions') {}

  /** Where the next violations are: `transaction`, or a batch index. */
  at(path: string | number): this {
    this.path = path;
    return this;
  }

  add(field: string, description: string): void {
    if (this.items.length >= MAX_VIOLATIONS) return;
    const prefix = typeof this.path === 'number' ? `${this.collection}[${this.path}]` : this.path;
    this.items.push({ field: `${prefix}.${field}`, description });
  }
}

/**
 * Checks one transaction against the API contract and against the model that
 * will score it (its precomputed features, the range of its input type), and
 * adds what is wrong to `violations`.
 */
export function validateTransaction(transaction: Transaction, model: ServingModel, violations: ViolationList): void {
  for (const [field, key] of ID_FIELDS) {
    const value = transaction[key];
    if (value === undefined) violations.add(field, 'is required');
    else if (value < 0n) violations.add(field, `must be >= 0, got ${value}`);
  }

  const amount = transaction.txAmount;
  if (amount === undefined) violations.add('tx_amount', 'is required');
  else if (Number.isNaN(amount)) violations.add('tx_amount', 'must be a number, got NaN');
  else if (!Number.isFinite(amount)) violations.add('tx_amount', `must be finite, got ${amount}`);
  else if (amount < 0) violations.add('tx_amount', `must be >= 0, got ${amount}`);
  else if (amount > model.largestInput) {
    violations.add('tx_amount', `must be at most ${model.largestInput} for model ${model.identity.name} (${model.elementType} input), got ${amount}`);
  }

  const seconds = transaction.txTimeSeconds;
  const days = transaction.txTimeDays;
  if (transaction.txDatetime !== undefined) {
    if (!Number.isFinite(transaction.txDatetime.getTime())) violations.add('tx_datetime', 'is not a valid timestamp');
  } else if (seconds === undefined) {
    violations.add('tx_time_seconds', 'is required when tx_datetime is not given');
  }
  // tx_time_seconds names an instant, as tx_datetime does: both are held to the
  // same range (up to 9999-12-31T23:59:59Z), so every instant is a valid
  // Timestamp and a JavaScript Date, exactly representable as a double, and
  // the time features (weekday, hour) are defined. Larger values used to lose
  // precision and give arbitrary features.
  const maxSeconds = TIMESTAMP_MAX_SECONDS - BigInt(model.features.unixSeconds(EPOCH));
  if (seconds !== undefined && seconds < 0n) violations.add('tx_time_seconds', `must be >= 0, got ${seconds}`);
  else if (seconds !== undefined && seconds > maxSeconds) {
    violations.add('tx_time_seconds', `must be at most ${maxSeconds} (9999-12-31T23:59:59Z), got ${seconds}`);
  }
  if (days !== undefined && days < 0n) violations.add('tx_time_days', `must be >= 0, got ${days}`);
  else if (days !== undefined && days > maxSeconds / SECONDS_PER_DAY) {
    violations.add('tx_time_days', `must be at most ${maxSeconds / SECONDS_PER_DAY} (9999-12-31), got ${days}`);
  }
  if (seconds !== undefined && days !== undefined && seconds >= 0n && days >= 0n && seconds / SECONDS_PER_DAY !== days) {
    violations.add('tx_time_days', `must be tx_time_seconds / 86400 = ${seconds / SECONDS_PER_DAY}, got ${days}`);
  }

  checkPrecomputed(transaction.features, model, violations);
}

const ID_FIELDS = [
  ['transaction_id', 'transactionId'],
  ['customer_id', 'customerId'],
  ['terminal_id', 'terminalId'],
] as const;

function checkPrecomputed(
  features: Readonly<Record<string, number>>,
  model: ServingModel,
  violations: ViolationList,
): void {
  const { precomputed, computed } = model.features;
  for (const name in features) {
    const value = features[name] as number;
    if (computed.has(name)) {
      violations.add(`features[${echoed(name)}]`, 'is computed by the service from the transaction fields; do not send it');
    } else if (!precomputed.has(name)) {
      const accepted = precomputed.size === 0 ? 'none' : [...precomputed].join(', ');
      violations.add(`features[${echoed(name)}]`, `is not a feature of model ${model.identity.name} (precomputed features it takes: ${accepted})`);
    } else if (!Number.isFinite(value) || Math.abs(value) > model.largestInput) {
      violations.add(`features[${echoed(name)}]`, `must be a finite number within the model's ${model.elementType} range, got ${value}`);
    }
  }
  for (const name of precomputed) {
    if (!(name in features)) violations.add(`features[${name}]`, `is required by model ${model.identity.name}`);
  }
}

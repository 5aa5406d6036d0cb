import type { FeatureSpec } from './featureSpec.js';

/**
 * The request fields features are computed from. The generated `Transaction`
 * message fits this shape; the features layer does not depend on the API.
 * Values are assumed valid: the API layer checks them first.
 */
export interface TransactionFields {
  readonly txAmount?: number | undefined;
  readonly txTimeSeconds?: bigint | undefined;
  readonly txDatetime?: Date | undefined;
  readonly features: Readonly<Record<string, number>>;
}

/** A model's feature list that this service cannot build. */
export class FeatureListError extends Error {
  override readonly name = 'FeatureListError';
}

type Column = (transaction: TransactionFields, unixSeconds: number) => number;

const SECONDS_PER_DAY = 86_400;

/** Hours 0 to 6 inclusive count as night, as in the Fraud Detection Handbook. */
const LAST_NIGHT_HOUR = 6;

/** The stateless features of the specification, one implementation each. */
const STATELESS: Readonly<Record<string, Column>> = {
  TX_AMOUNT: (transaction) => transaction.txAmount ?? 0,
  TX_DURING_WEEKEND: (_transaction, unixSeconds) => {
    // 1970-01-01 was a Thursday: day 0 → weekday 4, with 0 = Sunday and 6 = Saturday.
    const weekday = (((Math.floor(unixSeconds / SECONDS_PER_DAY) + 4) % 7) + 7) % 7;
    return weekday === 0 || weekday === 6 ? 1 : 0;
  },
  TX_DURING_NIGHT: (_transaction, unixSeconds) => {
    const secondOfDay = ((unixSeconds % SECONDS_PER_DAY) + SECONDS_PER_DAY) % SECONDS_PER_DAY;
    return Math.floor(secondOfDay / 3600) <= LAST_NIGHT_HOUR ? 1 : 0;
  },
};

/**
 * Turns transactions into rows of a model's input tensor, in the order of the
 * model's manifest. Built once per model version, used on every call.
 */
export class FeatureBuilder {
  /** Feature names, in input column order. */
  readonly names: readonly string[];
  /** Features computed here from the transaction's fields. */
  readonly computed: ReadonlySet<string>;
  /** Features that must arrive precomputed in the request's `features` map. */
  readonly precomputed: ReadonlySet<string>;
  /** True when some feature depends on the transaction's time. */
  readonly needsTime: boolean;

  private readonly columns: readonly Column[];
  private readonly epochSeconds: number;

  constructor(spec: FeatureSpec, names: readonly string[]) {
    const computed = new Set<string>();
    const precomputed = new Set<string>();
    let needsTime = false;
    this.columns = names.map((name) => {
      const definition = spec.features.get(name);
      if (definition === undefined) {
        throw new FeatureListError(`feature ${name} is not in the feature specification`);
      }
      if (definition.kind !== 'stateless') {
        precomputed.add(name);
        return (transaction: TransactionFields) => transaction.features[name] ?? Number.NaN;
      }
      const column = STATELESS[name];
      if (column === undefined) {
        throw new FeatureListError(`stateless feature ${name} has no implementation in this service version`);
      }
      computed.add(name);
      if (definition.inputs.includes('tx_time_seconds') || definition.inputs.includes('tx_datetime')) needsTime = true;
      return column;
    });
    this.names = names;
    this.computed = computed;
    this.precomputed = precomputed;
    this.needsTime = needsTime;
    this.epochSeconds = spec.epochSeconds;
  }

  /** The transaction's time as Unix seconds: tx_datetime if set, else the spec's epoch + tx_time_seconds. */
  unixSeconds(transaction: TransactionFields): number {
    if (transaction.txDatetime !== undefined) return transaction.txDatetime.getTime() / 1000;
    return this.epochSeconds + Number(transaction.txTimeSeconds ?? 0n);
  }

  /** Writes one row at `row` (a row index) of a [N, names.length] tensor buffer. */
  write(transaction: TransactionFields, out: Float32Array | Float64Array, row: number): void {
    const unixSeconds = this.needsTime ? this.unixSeconds(transaction) : 0;
    const base = row * this.columns.length;
    for (let column = 0; column < this.columns.length; column++) {
      out[base + column] = (this.columns[column] as Column)(transaction, unixSeconds);
    }
  }

  /** Feature values by name, in double precision (for tests and logs). */
  describe(transaction: TransactionFields): Record<string, number> {
    const row = new Float64Array(this.columns.length);
    this.write(transaction, row, 0);
    return Object.fromEntries(this.names.map((name, index) => [name, row[index] as number]));
  }
}

import { eventTimeSeconds } from './eventClock.js';
import { EMPTY_HISTORY, type HistorySubject, type TransactionHistory } from './entityHistory.js';
import { isWindowFeature, type FeatureSpec, type WindowFeature } from './featureSpec.js';
import { HistoryWindows } from './historyWindows.js';

/**
 * The request fields features are computed from. The generated `Transaction`
 * message fits this shape; the features layer does not depend on the API.
 * Values are assumed valid: the API layer checks them first.
 */
export interface TransactionFields {
  readonly transactionId?: bigint | undefined;
  readonly txAmount?: number | undefined;
  readonly txTimeSeconds?: bigint | undefined;
  readonly txDatetime?: Date | undefined;
  readonly features: Readonly<Record<string, number>>;
}

/** A model's feature list that this service cannot build. */
export class FeatureListError extends Error {
  override readonly name = 'FeatureListError';
}

/** What the service can compute besides stateless features. */
export interface FeatureCapabilities {
  /**
   * Whether a state store keeps customer and terminal history. Without one,
   * a model that takes a window feature is refused; `storeDescription` says
   * why, for the refusal message.
   */
  readonly history: boolean;
  readonly storeDescription: string;
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

const ALL_CAPABILITIES: FeatureCapabilities = { history: true, storeDescription: 'a state store' };

/**
 * Turns transactions (and the history a state store recorded for them) into
 * rows of a model's input tensor, in the order of the model's manifest.
 * Built once per model version, used on every call.
 */
export class FeatureBuilder {
  /** Feature names, in input column order. */
  readonly names: readonly string[];
  /** Features computed here from the transaction's fields and its history. */
  readonly computed: ReadonlySet<string>;
  /** Features that must arrive precomputed in the request's `features` map (none in spec versions 1 to 3). */
  readonly precomputed: ReadonlySet<string> = new Set();
  /** True when some feature reads the customer or terminal history. */
  readonly needsHistory: boolean;

  private readonly columns: readonly Column[];
  private readonly epochSeconds: number;
  private readonly windows: HistoryWindows;
  /** One row in double precision, before it is written in the model's element type. */
  private readonly row: Float64Array;

  constructor(spec: FeatureSpec, names: readonly string[], capabilities: FeatureCapabilities = ALL_CAPABILITIES) {
    const windowFeatures: WindowFeature[] = [];
    for (const name of names) {
      const definition = spec.features.get(name);
      if (definition === undefined) throw new FeatureListError(`feature ${name} is not in the feature specification`);
      if (isWindowFeature(definition)) {
        if (!capabilities.history) {
          throw new FeatureListError(`feature ${name} needs customer and terminal history, which ${capabilities.storeDescription} does not keep`);
        }
        windowFeatures.push(definition);
      } else if (STATELESS[name] === undefined) {
        throw new FeatureListError(`stateless feature ${name} has no implementation in this service version`);
      }
    }
    this.windows = new HistoryWindows(windowFeatures);
    this.columns = names.map((name) => {
      const definition = spec.features.get(name);
      if (definition !== undefined && isWindowFeature(definition)) {
        const column = this.windows.column(definition);
        return () => column();
      }
      return STATELESS[name] as Column;
    });
    this.names = names;
    this.computed = new Set(names);
    this.needsHistory = windowFeatures.length > 0;
    this.epochSeconds = spec.epochSeconds;
    this.row = new Float64Array(names.length);
  }

  /** The transaction's event time as Unix seconds: tx_datetime if set, else the spec's epoch + tx_time_seconds. */
  unixSeconds(transaction: TransactionFields): number {
    return eventTimeSeconds(transaction, this.epochSeconds);
  }

  /**
   * Writes one row at `row` (a row index) of a [N, names.length] tensor
   * buffer. `history` is what the state store recorded for the transaction;
   * a model without history features ignores it. Returns the row in double
   * precision (valid until the next call), as the model sees it before the
   * cast to its element type.
   */
  write(transaction: TransactionFields, history: TransactionHistory | undefined, out: Float32Array | Float64Array, row: number): Float64Array {
    const unixSeconds = this.unixSeconds(transaction);
    if (this.needsHistory) this.windows.compute(subjectOf(transaction, unixSeconds), history ?? EMPTY_HISTORY);
    const values = this.row;
    const base = row * this.columns.length;
    for (let column = 0; column < this.columns.length; column++) {
      const value = (this.columns[column] as Column)(transaction, unixSeconds);
      values[column] = value;
      out[base + column] = value;
    }
    return values;
  }

  /** Feature values by name, in double precision (for explanations, tests and logs). */
  describe(transaction: TransactionFields, history?: TransactionHistory): Record<string, number> {
    const values = this.write(transaction, history, new Float64Array(this.columns.length), 0);
    return this.named(values);
  }

  /** A row of values, by feature name. */
  named(values: Float64Array): Record<string, number> {
    const named: Record<string, number> = {};
    this.names.forEach((name, index) => {
      named[name] = values[index] as number;
    });
    return named;
  }
}

function subjectOf(transaction: TransactionFields, unixSeconds: number): HistorySubject {
  return { id: transaction.transactionId ?? -1n, time: unixSeconds, amount: transaction.txAmount ?? 0 };
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JsonSchema } from '../jsonSchema.js';
import { packageRoot } from '../packageRoot.js';

export const DEFAULT_FEATURE_SPEC_PATH = join(packageRoot, 'models', 'feature-spec.json');

export type FeatureKind = 'stateless' | 'customer_window' | 'terminal_window';

export type WindowAggregate = 'count' | 'mean_amount' | 'amount_over_mean' | 'amount_over_max' | 'fraud_risk' | 'fraud_streak' | 'fraud_streak_latest';

interface FeatureDefinitionBase {
  readonly name: string;
  readonly type: 'float' | 'binary' | 'integer';
  readonly unit: string;
  readonly inputs: readonly string[];
  readonly formula: string;
}

export interface StatelessFeature extends FeatureDefinitionBase {
  readonly kind: 'stateless';
}

/** A history feature: an aggregate over a window of whole UTC days (see the spec's history.rules). */
export interface WindowFeature extends FeatureDefinitionBase {
  readonly kind: 'customer_window' | 'terminal_window';
  readonly window_days: number;
  readonly delay_days: number;
  readonly aggregate: WindowAggregate;
}

export type FeatureDefinition = StatelessFeature | WindowFeature;

export interface FeatureTestVector {
  readonly name: string;
  readonly transaction: { readonly tx_amount: number; readonly tx_time_seconds?: number; readonly tx_datetime?: string };
  readonly expected: Readonly<Record<string, number>>;
}

/** A transaction of a history vector, in the spec file's snake_case. */
export interface VectorTransaction {
  readonly transaction_id: number;
  readonly customer_id: number;
  readonly terminal_id: number;
  readonly tx_amount: number;
  readonly tx_time_seconds?: number;
  readonly tx_datetime?: string;
}

/** A transaction of a history vector and what scoring it must give. */
export interface VectorTransactionEvent {
  readonly transaction: VectorTransaction;
  readonly expected?: Readonly<Record<string, number>>;
  readonly expected_error?: 'late';
  readonly expected_duplicate?: boolean;
}

/**
 * What reporting an outcome does, by models/feature-spec.json's history.rules
 * (outcomes, corrections): the statuses the state stores answer and history vectors expect.
 */
export type OutcomeStatus =
  | 'applied'
  | 'duplicate'
  | 'conflict'
  | 'unknown_transaction'
  | 'before_transaction'
  | 'corrected'
  | 'out_of_order'
  | 'too_many_corrections';

export type VectorEvent =
  | VectorTransactionEvent
  /** One call with several transactions, all or nothing: with a late one, none is recorded. */
  | { readonly batch: readonly VectorTransactionEvent[] }
  | {
      readonly outcome: {
        readonly transaction_id: number;
        readonly outcome: 'fraud' | 'legitimate';
        readonly known_at_seconds?: number;
        readonly known_at?: string;
        readonly supersedes?: boolean;
      };
      readonly expected_status: OutcomeStatus;
    };

/** An event sequence with the expected history features at its transactions. */
export interface HistoryVector {
  readonly name: string;
  readonly lateness_seconds: number;
  readonly events: readonly VectorEvent[];
}

/** models/feature-spec.json, checked against its schema: the one definition of every feature. */
export interface FeatureSpec {
  readonly specVersion: number;
  /** Unix time, in seconds, that tx_time_seconds counts from. */
  readonly epochSeconds: number;
  readonly features: ReadonlyMap<string, FeatureDefinition>;
  readonly testVectors: readonly FeatureTestVector[];
  readonly historyVectors: readonly HistoryVector[];
}

interface FeatureSpecFile {
  spec_version: number;
  clock: { epoch: string };
  features: FeatureDefinition[];
  test_vectors: FeatureTestVector[];
  history_vectors: HistoryVector[];
}

export function loadFeatureSpec(path: string = DEFAULT_FEATURE_SPEC_PATH): FeatureSpec {
  const schema = new JsonSchema(join(packageRoot, 'models', 'feature-spec.schema.json'));
  const file: unknown = JSON.parse(readFileSync(path, 'utf8'));
  const problem = schema.check(file);
  if (problem !== undefined) throw new Error(`feature specification ${path} does not fit its schema: ${problem}`);
  const spec = file as FeatureSpecFile;
  const epochMs = Date.parse(spec.clock.epoch);
  if (Number.isNaN(epochMs)) throw new Error(`feature specification ${path}: clock.epoch is not a date-time`);
  return {
    specVersion: spec.spec_version,
    epochSeconds: epochMs / 1000,
    features: new Map(spec.features.map((feature) => [feature.name, feature])),
    testVectors: spec.test_vectors,
    historyVectors: spec.history_vectors,
  };
}

/** True for the features computed from the recorded history of a customer or a terminal. */
export function isWindowFeature(feature: FeatureDefinition): feature is WindowFeature {
  return feature.kind !== 'stateless';
}

/**
 * Whole days of history every window feature of the spec can look back,
 * counted from the transaction's day: the state a store must keep.
 */
export function historyDays(spec: FeatureSpec): { readonly customer: number; readonly terminal: number } {
  let customer = 0;
  let terminal = 0;
  for (const feature of spec.features.values()) {
    if (feature.kind === 'customer_window') customer = Math.max(customer, feature.window_days + feature.delay_days);
    if (feature.kind === 'terminal_window') terminal = Math.max(terminal, feature.window_days + feature.delay_days);
  }
  return { customer, terminal };
}

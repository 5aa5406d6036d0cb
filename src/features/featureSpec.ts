import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JsonSchema } from '../jsonSchema.js';
import { packageRoot } from '../packageRoot.js';

export const DEFAULT_FEATURE_SPEC_PATH = join(packageRoot, 'models', 'feature-spec.json');

export type FeatureKind = 'stateless' | 'customer_window' | 'terminal_window';

export interface FeatureDefinition {
  readonly name: string;
  readonly kind: FeatureKind;
  readonly type: 'float' | 'binary' | 'integer';
  readonly unit: string;
  readonly inputs: readonly string[];
  readonly formula: string;
}

export interface FeatureTestVector {
  readonly name: string;
  readonly transaction: { readonly tx_amount: number; readonly tx_time_seconds?: number; readonly tx_datetime?: string };
  readonly expected: Readonly<Record<string, number>>;
}

/** models/feature-spec.json, checked against its schema: the one definition of every feature. */
export interface FeatureSpec {
  readonly specVersion: number;
  /** Unix time, in seconds, that tx_time_seconds counts from. */
  readonly epochSeconds: number;
  readonly features: ReadonlyMap<string, FeatureDefinition>;
  readonly testVectors: readonly FeatureTestVector[];
}

interface FeatureSpecFile {
  spec_version: number;
  clock: { epoch: string };
  features: FeatureDefinition[];
  test_vectors: FeatureTestVector[];
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
  };
}

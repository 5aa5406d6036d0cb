import { join } from 'node:path';
import { JsonSchema } from '../jsonSchema.js';
import { packageRoot } from '../packageRoot.js';
import type { ModelTask } from './modelTask.js';

/** models/<name>.json: what a model is, how to feed it, how to read it, how to check it. */
export interface ModelManifest {
  /** 2 adds legitimate_class; in version 1 the legitimate class is the one with id 0. */
  readonly schema_version: 1 | 2;
  readonly name: string;
  readonly task: ModelTask;
  readonly version: string;
  readonly created_at: string;
  readonly model_file: string;
  readonly sha256: string;
  readonly feature_spec_version: number;
  readonly features: readonly string[];
  readonly input: { readonly name: string; readonly element_type: 'float32' | 'float64' };
  readonly outputs: { readonly label?: string; readonly probabilities: string };
  /** In the order of the model's probability columns. */
  readonly classes: readonly { readonly id: number; readonly label: string }[];
  /** Label of the class that means legitimate (version 2, where it is required). */
  readonly legitimate_class?: string;
  readonly threshold?: number;
  readonly metrics?: Readonly<Record<string, unknown>>;
  readonly training?: Readonly<Record<string, unknown>>;
  readonly samples: readonly { readonly features: Readonly<Record<string, number>>; readonly probabilities: readonly number[] }[];
  readonly sample_tolerance?: number;
}

/** A manifest that is not valid JSON, does not fit the schema, or contradicts itself. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

export const MANIFEST_SCHEMA_PATH = join(packageRoot, 'models', 'manifest.schema.json');

let schema: JsonSchema | undefined;

/** Parses and checks a manifest; `where` names it in error messages. */
export function parseManifest(bytes: Uint8Array, where: string): ModelManifest {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new ManifestError(`manifest ${where} is not JSON: ${(error as Error).message}`);
  }
  schema ??= new JsonSchema(MANIFEST_SCHEMA_PATH);
  const problem = schema.check(value);
  if (problem !== undefined) throw new ManifestError(`manifest ${where} does not fit the manifest schema: ${problem}`);
  const manifest = value as ModelManifest;
  const inconsistency = findInconsistency(manifest);
  if (inconsistency !== undefined) throw new ManifestError(`manifest ${where}: ${inconsistency}`);
  return manifest;
}

/**
 * The model column of the legitimate class: the class legitimate_class names,
 * or (schema version 1) the class with id 0.
 */
export function legitimateColumn(manifest: ModelManifest): number {
  if (manifest.legitimate_class === undefined) return 0;
  return manifest.classes.findIndex((entry) => entry.label === manifest.legitimate_class);
}

/** What the schema cannot say: ids in order, distinct labels, a legitimate class that exists, dates that parse, samples that fit the model. */
function findInconsistency(manifest: ModelManifest): string | undefined {
  if (Number.isNaN(Date.parse(manifest.created_at))) return `created_at ${manifest.created_at} is not a date-time`;
  const misplaced = manifest.classes.findIndex((entry, index) => entry.id !== index);
  if (misplaced >= 0) return `classes[${misplaced}].id must be ${misplaced}: class ids are 0, 1, 2, … in order`;
  const labels = manifest.classes.map((entry) => entry.label);
  const repeated = labels.findIndex((label, index) => labels.indexOf(label) !== index);
  if (repeated >= 0) return `classes[${repeated}].label ${labels[repeated]} is also the label of classes[${labels.indexOf(labels[repeated] as string)}]; labels must differ`;
  if (legitimateColumn(manifest) < 0) {
    return `legitimate_class ${manifest.legitimate_class} is not one of the class labels (${labels.join(', ')})`;
  }
  const names = new Set(manifest.features);
  for (const [index, sample] of manifest.samples.entries()) {
    const given = Object.keys(sample.features);
    if (given.length !== names.size || given.some((name) => !names.has(name))) {
      return `samples[${index}].features must give exactly the features ${manifest.features.join(', ')}`;
    }
    if (sample.probabilities.length !== manifest.classes.length) {
      return `samples[${index}].probabilities must have ${manifest.classes.length} values, one per class`;
    }
  }
  return undefined;
}

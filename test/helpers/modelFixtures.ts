import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FetchedModel } from '../../src/models/modelSource.js';
import { fixture } from './paths.js';

export type ManifestJson = Record<string, unknown> & {
  model_file: string;
  sha256: string;
  input: { name: string; element_type: string };
  classes: { id: number; label: string }[];
  features: string[];
  samples: { features: Record<string, number>; probabilities: number[] }[];
};

export interface ModelFiles {
  manifest: ManifestJson;
  model: Uint8Array;
}

/** A fixture's manifest (parsed, to mutate) and .onnx bytes, from a manifest path or a fixture name. */
export function readModel(nameOrPath: string): ModelFiles {
  const path = nameOrPath.endsWith('.json') ? nameOrPath : fixture(nameOrPath);
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as ManifestJson;
  return { manifest, model: readFileSync(join(dirname(path), manifest.model_file)) };
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** What a source would hand the loader; the sha256 is refreshed unless `keepSha` (to test mismatches). */
export function fetched(files: ModelFiles, options: { keepSha?: boolean } = {}): FetchedModel {
  const manifest = options.keepSha ? files.manifest : { ...files.manifest, sha256: sha256(files.model) };
  return {
    manifestBytes: Buffer.from(JSON.stringify(manifest)),
    modelBytes: files.model,
    revision: 'test',
    source: 'file:///test',
  };
}

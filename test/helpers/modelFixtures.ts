import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FetchedModel } from '../../src/models/modelSource.js';
import { FIXTURES, fixture } from './paths.js';

export type ManifestJson = Record<string, unknown> & {
  schema_version: number;
  task: string;
  model_file: string;
  sha256: string;
  input: { name: string; element_type: string };
  outputs: { label?: string; probabilities: string };
  classes: { id: number; label: string }[];
  legitimate_class?: string;
  threshold?: number;
  features: string[];
  samples: { features: Record<string, number>; probabilities: number[] }[];
};

/** What the service must answer for one transaction (test/fixtures/models/answers, from Python onnxruntime). */
export interface ExpectedAnswer {
  prediction: string;
  class_id: number;
  class_probability: number;
  fraud_probability: number;
  probabilities: number[];
}

export interface AnswerCase {
  transaction: { transaction_id: number; customer_id: number; terminal_id: number; tx_amount: number; tx_time_seconds: number };
  features: Record<string, number>;
  /** onnxruntime's probabilities, in the model's column order. */
  model_output: number[];
  answer: ExpectedAnswer;
}

export interface AnswerFile {
  fixture: string;
  task: 'binary' | 'multiclass';
  service_classes: { id: number; label: string; column: number }[];
  cases: AnswerCase[];
}

export interface ModelFiles {
  manifest: ManifestJson;
  model: Uint8Array;
}

/** The answers a fixture model must give, computed by training/run fixtures with Python onnxruntime. */
export function readAnswers(name: string): AnswerFile {
  return JSON.parse(readFileSync(join(FIXTURES, 'answers', `${name}.json`), 'utf8')) as AnswerFile;
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

/**
 * How far probabilities may be from the committed answers: those were computed
 * by onnxruntime on the machine that generated them, and a matrix product or a
 * sum may differ in its last bits on another CPU (vector kernels, fused
 * multiply-adds). Float32 carries about 6e-8 near 1.
 */
export const ANSWER_TOLERANCE = 1e-6;

/** Asserts two probability vectors have the same length and values within ANSWER_TOLERANCE. */
export function assertProbabilitiesClose(actual: readonly number[], expected: readonly number[], message: string): void {
  assert.equal(actual.length, expected.length, `${message}: ${actual.length} probabilities, expected ${expected.length}`);
  expected.forEach((wanted, index) => {
    const got = actual[index] as number;
    assert.ok(Math.abs(got - wanted) <= ANSWER_TOLERANCE, `${message}: probability ${index} is ${got}, expected ${wanted} (tolerance ${ANSWER_TOLERANCE})`);
  });
}

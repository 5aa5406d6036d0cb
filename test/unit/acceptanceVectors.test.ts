import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFeatureSpec } from '../../src/features/featureSpec.js';
import { ModelLoader, ModelRejectedError } from '../../src/models/modelLoader.js';
import type { FetchedModel } from '../../src/models/modelSource.js';
import type { ModelTask } from '../../src/models/modelTask.js';
import { packageRoot } from '../../src/packageRoot.js';

/**
 * test/fixtures/acceptance (training/run acceptance-fixtures): models and manifests
 * with the verdict the service must reach. training/tests/test_acceptance.py holds
 * `training/run verify` to the same verdicts, so a model one accepts is one the
 * other accepts, and a refusal has the same reason on both sides.
 */
const FOLDER = join(packageRoot, 'test', 'fixtures', 'acceptance');

interface Vector {
  readonly case: string;
  readonly manifest: string;
  readonly task: ModelTask;
  readonly verdict: 'accepted' | 'refused';
  readonly reason?: string;
  readonly message?: string;
  readonly what: string;
}

const vectors = (JSON.parse(readFileSync(join(FOLDER, 'vectors.json'), 'utf8')) as { cases: Vector[] }).cases;

/** The files exactly as a source would hand them over: manifest bytes untouched, the .onnx it names. */
function fetchedFiles(manifestFile: string): FetchedModel {
  const manifestBytes = readFileSync(join(FOLDER, manifestFile));
  const { model_file: modelFile } = JSON.parse(manifestBytes.toString('utf8')) as { model_file: string };
  return { manifestBytes, modelBytes: readFileSync(join(FOLDER, modelFile)), revision: 'test', source: `file://${FOLDER}/${manifestFile}` };
}

describe('acceptance vectors shared with training/run verify', () => {
  const loader = new ModelLoader({ featureSpec: loadFeatureSpec(), intraOpThreads: 1 });

  it('should cover acceptance and every rejection reason the checks can reach', () => {
    assert.ok(vectors.some((vector) => vector.verdict === 'accepted'));
    const reasons = new Set(vectors.map((vector) => vector.reason));
    for (const reason of ['manifest', 'task', 'sha256', 'features', 'signature', 'smoke']) assert.ok(reasons.has(reason), reason);
  });

  for (const vector of vectors) {
    const verdict = vector.verdict === 'accepted' ? 'accept' : `refuse (${vector.reason ?? '?'})`;
    it(`should ${verdict} ${vector.case}: ${vector.what}`, async () => {
      let outcome: ModelRejectedError | 'accepted';
      try {
        (await loader.load(vector.task, fetchedFiles(vector.manifest))).retire();
        outcome = 'accepted';
      } catch (error) {
        if (!(error instanceof ModelRejectedError)) throw error;
        outcome = error;
      }
      if (vector.verdict === 'accepted') {
        assert.equal(outcome, 'accepted', outcome instanceof Error ? outcome.message : '');
        return;
      }
      assert.ok(outcome instanceof ModelRejectedError, 'the model was accepted');
      assert.equal(outcome.reason, vector.reason, outcome.message);
      assert.match(outcome.message, new RegExp(vector.message ?? ''));
    });
  }
});

import assert from 'node:assert/strict';
import { loadFeatureSpec } from '../../src/features/featureSpec.js';
import { ModelLoader, ModelRejectedError, type RejectionReason } from '../../src/models/modelLoader.js';
import type { ModelTask } from '../../src/models/modelTask.js';
import type { ServingModel } from '../../src/models/servingModel.js';
import { fetched, readModel, type ModelFiles } from '../helpers/modelFixtures.js';
import { bundled } from '../helpers/paths.js';

const loader = new ModelLoader({ featureSpec: loadFeatureSpec(), intraOpThreads: 1 });

async function rejection(task: ModelTask, files: ModelFiles, options: { keepSha?: boolean } = {}): Promise<ModelRejectedError> {
  try {
    const model = await loader.load(task, fetched(files, options));
    model.retire();
  } catch (error) {
    if (error instanceof ModelRejectedError) return error;
    throw error;
  }
  throw new Error('the model was accepted');
}

function expectReason(error: ModelRejectedError, reason: RejectionReason, message: RegExp): void {
  assert.equal(error.reason, reason, error.message);
  assert.match(error.message, message);
}

describe('model loader', () => {
  const accepted: [string, ModelTask, 'float32' | 'float64', boolean][] = [
    ['binary-zipmap-f32', 'binary', 'float32', true],
    ['binary-tensor-f32', 'binary', 'float32', false],
    ['binary-zipmap-f64', 'binary', 'float64', true],
    ['scenario-zipmap-f32', 'multiclass', 'float32', true],
    ['scenario-tensor-f64', 'multiclass', 'float64', false],
  ];
  for (const [name, task, elementType, zipMap] of accepted) {
    it(`should serve ${name} (${zipMap ? 'ZipMap' : 'tensor'} probabilities, ${elementType} input)`, async () => {
      const files = readModel(name);
      const model = await loader.load(task, fetched(files));
      try {
        assert.equal(model.elementType, elementType);
        assert.equal(model.classCount, files.manifest.classes.length);
        const input = model.inputBuffer(1);
        assert.ok(elementType === 'float32' ? input instanceof Float32Array : input instanceof Float64Array);
        const sample = files.manifest.samples[0];
        assert.ok(sample !== undefined);
        files.manifest.features.forEach((feature, column) => (input[column] = sample.features[feature] as number));
        const probabilities = Array.from(await model.probabilities(input, 1));
        probabilities.forEach((value, column) => {
          assert.ok(Math.abs(value - (sample.probabilities[column] as number)) <= 1e-5);
        });
      } finally {
        model.retire();
      }
    });
  }

  it('should serve both bundled models', async () => {
    for (const [name, task] of [['fraud-binary', 'binary'], ['fraud-scenario', 'multiclass']] as const) {
      const model = await loader.load(task, fetched(readModel(bundled(name))));
      assert.equal(model.identity.name, name);
      model.retire();
    }
  });

  it('should refuse a multiclass model for the binary task', async () => {
    expectReason(await rejection('binary', readModel('scenario-zipmap-f32')), 'task', /is a multiclass model; the binary task needs a binary model/);
  });

  it('should refuse a model whose bytes do not match the manifest sha256', async () => {
    const files = readModel('binary-zipmap-f32');
    files.manifest.sha256 = '0'.repeat(64);
    expectReason(await rejection('binary', files, { keepSha: true }), 'sha256', /has sha256 [0-9a-f]{64}, the manifest says 0{64}/);
  });

  it('should refuse a manifest that fails the schema', async () => {
    const files = readModel('binary-zipmap-f32');
    files.manifest.task = 'regression';
    expectReason(await rejection('binary', files), 'manifest', /does not fit the manifest schema: \/task/);
  });

  it('should refuse corrupt .onnx bytes', async () => {
    const files = readModel('binary-zipmap-f32');
    files.model = Buffer.concat([files.model.subarray(0, 100), Buffer.alloc(200, 0xff)]);
    expectReason(await rejection('binary', files), 'onnx', /not a readable ONNX model|onnxruntime cannot load the model/);
  });

  it('should refuse a model whose input name differs from its manifest', async () => {
    const files = readModel('binary-zipmap-f32');
    files.manifest.input.name = 'features';
    expectReason(await rejection('binary', files), 'signature', /the model's input is \w+, the manifest says features/);
  });

  it('should refuse a model whose input element type differs from its manifest', async () => {
    const files = readModel('binary-zipmap-f32');
    files.manifest.input.element_type = 'float64';
    expectReason(await rejection('binary', files), 'signature', /is float32, the manifest says float64/);
  });

  it('should refuse a model whose input width differs from its feature list', async () => {
    const files = readModel('binary-zipmap-f32');
    files.manifest.features = ['TX_AMOUNT', 'TX_DURING_NIGHT'];
    for (const sample of files.manifest.samples) delete sample.features.TX_DURING_WEEKEND;
    expectReason(await rejection('binary', files), 'signature', /need \[N, 2\]/);
  });

  it('should refuse a feature the specification does not define', async () => {
    const files = readModel('binary-zipmap-f32');
    files.manifest.features = ['TX_AMOUNT', 'TX_DURING_WEEKEND', 'TX_COLOUR'];
    for (const sample of files.manifest.samples) {
      sample.features.TX_COLOUR = sample.features.TX_DURING_NIGHT as number;
      delete sample.features.TX_DURING_NIGHT;
    }
    expectReason(await rejection('binary', files), 'features', /feature TX_COLOUR is not in the feature specification/);
  });

  it('should refuse classes that differ from the ZipMap the model declares', async () => {
    const files = readModel('scenario-zipmap-f32');
    files.manifest.classes = files.manifest.classes.slice(0, 3);
    for (const sample of files.manifest.samples) sample.probabilities = sample.probabilities.slice(0, 3);
    expectReason(await rejection('multiclass', files), 'signature', /ZipMap classes are \[0, 1, 2, 3\], the manifest's classes are \[0, 1, 2\]/);
  });

  it('should refuse a model whose sample inputs do not give the expected probabilities', async () => {
    const files = readModel('binary-zipmap-f32');
    const sample = files.manifest.samples[0];
    assert.ok(sample !== undefined);
    sample.probabilities = [0.123, 0.877];
    expectReason(await rejection('binary', files), 'smoke', /sample 0 gives \[.*\], the manifest expects \[0\.123, 0\.877\]/);
  });

  it('should release a retired model only when the last call holding it lets go', async () => {
    const model: ServingModel = await loader.load('binary', fetched(readModel('binary-zipmap-f32')));
    model.acquire();
    model.acquire();
    model.retire();
    assert.equal(model.isReleased, false);
    model.release();
    assert.equal(model.isReleased, false);
    model.release();
    assert.equal(model.isReleased, true);
  });
});

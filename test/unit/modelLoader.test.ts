import assert from 'node:assert/strict';
import { loadFeatureSpec } from '../../src/features/featureSpec.js';
import { ModelLoader, ModelRejectedError, type RejectionReason } from '../../src/models/modelLoader.js';
import type { ModelTask } from '../../src/models/modelTask.js';
import type { ServingModel } from '../../src/models/servingModel.js';
import { assertProbabilitiesClose, fetched, readAnswers, readModel, type ModelFiles } from '../helpers/modelFixtures.js';
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
    ['binary-zipmap-f32-v2', 'binary', 'float32', true],
    ['binary-strings-zipmap-f32', 'binary', 'float32', true],
    ['binary-strings-tensor-f64', 'binary', 'float64', false],
    ['scenario-strings-zipmap-f32', 'multiclass', 'float32', true],
    ['scenario-strings-tensor-f32', 'multiclass', 'float32', false],
    ['binary-graph-tensor-f32', 'binary', 'float32', false],
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

    it(`should give ${name}'s classes exactly and probabilities as Python onnxruntime does, legitimate class first`, async () => {
      const files = readModel(name);
      const answers = readAnswers(name);
      const model = await loader.load(task, fetched(files));
      try {
        assert.deepEqual(
          model.classes.map(({ id, label, column }) => ({ id, label, column })),
          answers.service_classes,
        );
        const rows = answers.cases.length;
        const input = model.inputBuffer(rows);
        answers.cases.forEach((entry, row) => {
          files.manifest.features.forEach((feature, column) => (input[row * model.featureCount + column] = entry.features[feature] as number));
        });
        const output = await model.probabilities(input, rows);
        answers.cases.forEach((entry, row) => {
          const got = Array.from(output.subarray(row * model.classCount, (row + 1) * model.classCount));
          assertProbabilitiesClose(got, entry.model_output, `case ${row}`);
          assert.equal(model.classOf(output, row), entry.answer.class_id, `case ${row}: ${JSON.stringify(entry.answer)}`);
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

  it('should refuse a model whose input width differs from its feature list, showing unnamed dimensions as N', async () => {
    const files = readModel('binary-zipmap-f32');
    files.manifest.features = ['TX_AMOUNT', 'TX_DURING_NIGHT'];
    for (const sample of files.manifest.samples) delete sample.features.TX_DURING_WEEKEND;
    expectReason(await rejection('binary', files), 'signature', /input input has shape \[N, 3\], the manifest's 2 features need \[N, 2\]/);
  });

  it('should refuse a model with another number of probability columns than its manifest has classes, showing N', async () => {
    const files = readModel('binary-graph-tensor-f32');
    files.manifest.task = 'multiclass';
    delete files.manifest.threshold;
    files.manifest.classes = [...files.manifest.classes, { id: 2, label: 'scenario_9' }];
    for (const sample of files.manifest.samples) sample.probabilities = [...sample.probabilities, 0];
    expectReason(await rejection('multiclass', files), 'signature', /output probabilities has shape \[N, 2\], the manifest's 3 classes need \[N, 3\]/);
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
    expectReason(
      await rejection('multiclass', files),
      'signature',
      /the model's classes are \[0, 1, 2, 3\] \(classlabels_int64s of ZipMap node \w+\), the manifest's classes are \[0, 1, 2\]/,
    );
  });

  const reordered: [string, ModelTask, RegExp][] = [
    [
      'binary-strings-zipmap-f32-reordered',
      'binary',
      /the model's classes are \[fraud, legit\] \(classlabels_strings of ZipMap node \w+\), the manifest's classes are \[legit, fraud\]; the manifest must list them in the order of the model's probability columns/,
    ],
    [
      'scenario-strings-tensor-f32-reordered',
      'multiclass',
      /the model's classes are \[scenario_1, scenario_2, scenario_3, simple_transaction\] \(classlabels_strings of TreeEnsembleClassifier node \w+\), the manifest's classes are \[simple_transaction, scenario_1, scenario_2, scenario_3\]/,
    ],
  ];
  for (const [name, task, message] of reordered) {
    it(`should refuse ${name}: its manifest lists the model's classes in another order`, async () => {
      expectReason(await rejection(task, readModel(name)), 'signature', message);
    });
  }

  it('should refuse integer class ids that differ from the classifier labels of a zipmap=False model', async () => {
    const files = readModel('scenario-tensor-f64');
    files.manifest.classes = files.manifest.classes.slice(0, 3);
    for (const sample of files.manifest.samples) sample.probabilities = sample.probabilities.slice(0, 3);
    expectReason(
      await rejection('multiclass', files),
      'signature',
      /the model's classes are \[0, 1, 2, 3\] \(classlabels_int64s of TreeEnsembleClassifier node \w+\), the manifest's classes are \[0, 1, 2\]/,
    );
  });

  it('should take the class order of a model that declares no labels from its manifest', async () => {
    const files = readModel('binary-graph-tensor-f32');
    files.manifest.classes = [...files.manifest.classes].reverse().map(({ label }, id) => ({ id, label }));
    for (const sample of files.manifest.samples) sample.probabilities = [...sample.probabilities].reverse();
    // Nothing in a plain Softmax graph names its columns: only the samples hold the manifest to account.
    expectReason(await rejection('binary', files), 'smoke', /sample 0 gives \[.*\], the manifest expects/);
  });

  it('should refuse a legitimate_class that is not one of the labels, and labels that repeat', async () => {
    const files = readModel('binary-strings-tensor-f64');
    files.manifest.legitimate_class = 'legitimate';
    expectReason(await rejection('binary', files), 'manifest', /legitimate_class legitimate is not one of the class labels \(fraud, legit\)/);
    const repeated = readModel('binary-strings-tensor-f64');
    repeated.manifest.classes = [{ id: 0, label: 'legit' }, { id: 1, label: 'legit' }];
    expectReason(await rejection('binary', repeated), 'manifest', /classes\[1\]\.label legit is also the label of classes\[0\]; labels must differ/);
  });

  it('should refuse a schema-2 manifest without legitimate_class, and a schema-1 manifest with one', async () => {
    const unnamed = readModel('binary-strings-tensor-f64');
    delete unnamed.manifest.legitimate_class;
    expectReason(await rejection('binary', unnamed), 'manifest', /does not fit the manifest schema/);
    const early = readModel('binary-strings-tensor-f64');
    early.manifest.schema_version = 1;
    expectReason(await rejection('binary', early), 'manifest', /does not fit the manifest schema/);
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

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { declaredClassLabels } from '../../src/models/onnxClassLabels.js';
import { modelClassLabels } from '../../src/models/onnxModelClasses.js';
import { OnnxFormatError } from '../../src/models/onnxWire.js';
import { removeZipMap } from '../../src/models/onnxZipMap.js';
import { packageRoot } from '../../src/packageRoot.js';
import { readModel } from '../helpers/modelFixtures.js';

const ACCEPTANCE = join(packageRoot, 'test', 'fixtures', 'acceptance');

const SCENARIO_COLUMNS = ['scenario_1', 'scenario_2', 'scenario_3', 'simple_transaction'];

describe('class labels a model declares for its probability columns', () => {
  const cases: [string, (number | string)[], RegExp][] = [
    ['binary-zipmap-f32', [0, 1], /^classlabels_int64s of ZipMap node/],
    ['binary-tensor-f32', [0, 1], /^classlabels_int64s of TreeEnsembleClassifier node/],
    ['scenario-tensor-f64', [0, 1, 2, 3], /^classlabels_int64s of TreeEnsembleClassifier node/],
    ['binary-strings-zipmap-f32', ['fraud', 'legit'], /^classlabels_strings of ZipMap node/],
    ['binary-strings-tensor-f64', ['fraud', 'legit'], /^classlabels_strings of TreeEnsembleClassifier node/],
    ['scenario-strings-zipmap-f32', SCENARIO_COLUMNS, /^classlabels_strings of ZipMap node/],
    ['scenario-strings-tensor-f32', SCENARIO_COLUMNS, /^classlabels_strings of TreeEnsembleClassifier node/],
  ];
  for (const [name, labels, declaredBy] of cases) {
    it(`should read [${labels.join(', ')}] from ${name}, from the node nearest its probability output`, () => {
      const files = readModel(name);
      const declared = declaredClassLabels(files.model, files.manifest.outputs.probabilities);
      assert.equal(declared.length, 1, JSON.stringify(declared));
      assert.deepEqual(declared[0]?.labels, labels);
      assert.match(declared[0].declaredBy, declaredBy);
    });
  }

  it('should read the classlabels_ints a LinearClassifier names its classes with', () => {
    const declared = declaredClassLabels(readFileSync(join(ACCEPTANCE, 'linear-ints-1-2.onnx')), 'probabilities');
    assert.deepEqual(declared.map((entry) => [entry.labels, entry.declaredBy]), [[[1, 2], 'classlabels_ints of LinearClassifier node LinearClassifier']]);
  });

  it('should give one entry per distinct list on the paths to the output, in the order the walk meets them', () => {
    const agreeing = declaredClassLabels(readFileSync(join(ACCEPTANCE, 'ensemble-agreeing.onnx')), 'probabilities');
    assert.deepEqual(agreeing.map((entry) => entry.labels), [[0, 1]]);
    const conflicting = declaredClassLabels(readFileSync(join(ACCEPTANCE, 'ensemble-conflicting.onnx')), 'probabilities');
    assert.deepEqual(conflicting.map((entry) => [entry.labels, entry.declaredBy]), [
      [[1, 0], 'classlabels_ints of LinearClassifier node second'],
      [[0, 1], 'classlabels_ints of LinearClassifier node first'],
    ]);
  });

  it('should find none in a skl2onnx graph of plain operators (float64 logistic regression, zipmap=False)', () => {
    assert.deepEqual(declaredClassLabels(readFileSync(join(ACCEPTANCE, 'plain-f64.onnx')), 'probabilities'), []);
  });

  it('should find the classifier behind the Identity that replaced a ZipMap', () => {
    const files = readModel('scenario-strings-zipmap-f32');
    const { bytes } = removeZipMap(files.model, 'output_probability');
    const declared = declaredClassLabels(bytes, 'output_probability');
    assert.deepEqual(declared.map((entry) => entry.labels), [SCENARIO_COLUMNS]);
    assert.match(declared[0]?.declaredBy ?? '', /TreeEnsembleClassifier/);
  });

  it('should find none in a graph without a classifier node (Softmax output)', () => {
    const files = readModel('binary-graph-tensor-f32');
    assert.deepEqual(declaredClassLabels(files.model, 'probabilities'), []);
  });

  it('should find none for an output no node produces', () => {
    const files = readModel('binary-tensor-f32');
    assert.deepEqual(declaredClassLabels(files.model, 'no_such_output'), []);
  });

  it('should refuse bytes that are not an ONNX model', () => {
    assert.throws(() => declaredClassLabels(Buffer.from('not a model'), 'probabilities'), OnnxFormatError);
  });
});

describe('the class order a model gives its probability columns, label output included', () => {
  const acceptance = (name: string): Buffer => readFileSync(join(ACCEPTANCE, `${name}.onnx`));
  const read = (name: string, label?: string): [(number | string)[], string][] =>
    modelClassLabels(acceptance(name), 'probabilities', label).map((entry) => [[...entry.labels], entry.declaredBy]);

  it('should take an ensemble\'s classes from its label output, not from members that name indices [0, 1]', () => {
    assert.deepEqual(declaredClassLabels(acceptance('voting-strings'), 'probabilities').map((entry) => entry.labels), [[0, 1]]);
    const declared = read('voting-strings', 'label');
    assert.deepEqual(declared.map(([labels]) => labels), [['fraud', 'legit']]);
    assert.match(declared[0]?.[1] ?? '', /^constant \w+ of ArrayFeatureExtractor node \w+ \(the label output's classes\)$/);
  });

  it('should find the label output itself when the manifest names none (the one other graph output)', () => {
    assert.deepEqual(read('voting-strings').map(([labels]) => labels), [['fraud', 'legit']]);
  });

  it('should read all the classes of a one-vs-rest model whose binary members sit behind a Concat', () => {
    assert.deepEqual(read('one-vs-rest-strings', 'label').map(([labels]) => labels), [['at_night', 'legit', 'over_220']]);
  });

  it('should report the probability path\'s declaration where the label output agrees with it', () => {
    const files = readModel('scenario-strings-zipmap-f32');
    const declared = modelClassLabels(files.model, 'output_probability', 'output_label');
    assert.deepEqual(declared.map((entry) => entry.labels), [SCENARIO_COLUMNS]);
    assert.match(declared[0]?.declaredBy ?? '', /^classlabels_strings of ZipMap node/);
  });

  it('should read integer classes from the constant of a plain-operator graph', () => {
    assert.deepEqual(read('plain-f64', 'label').map(([labels]) => labels), [[0, 1]]);
  });

  it('should keep contradicting declarations that are not mere indices', () => {
    assert.deepEqual(read('ensemble-conflicting', 'label').map(([labels]) => labels), [[1, 0], [0, 1]]);
  });

  it('should fall back to the probability path when the label output names no output', () => {
    assert.deepEqual(read('voting-strings', 'no_such_output').map(([labels]) => labels), [[0, 1]]);
  });
});

import assert from 'node:assert/strict';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { OnnxFormatError, removeZipMap } from '../../src/models/onnxZipMap.js';
import { readModel } from '../helpers/modelFixtures.js';

async function runSamples(bytes: Uint8Array, files: ReturnType<typeof readModel>): Promise<number[][]> {
  const session = await InferenceSession.create(bytes);
  try {
    const { manifest } = files;
    const data = manifest.samples.flatMap((sample) => manifest.features.map((name) => sample.features[name] as number));
    const type = manifest.input.element_type === 'float32' ? 'float32' : 'float64';
    const input = new Tensor(type, type === 'float32' ? Float32Array.from(data) : Float64Array.from(data), [manifest.samples.length, manifest.features.length]);
    const output = (await session.run({ [manifest.input.name]: input }, ['output_probability'])).output_probability;
    assert.ok(output !== undefined);
    const classes = manifest.classes.length;
    return manifest.samples.map((_, row) => Array.from(output.data as Float32Array).slice(row * classes, (row + 1) * classes));
  } finally {
    await session.release();
  }
}

describe('ZipMap removal', () => {
  it('should show why it exists: onnxruntime-node cannot return a ZipMap output', async () => {
    const files = readModel('binary-zipmap-f32');
    const session = await InferenceSession.create(files.model);
    try {
      const output = session.outputMetadata.find((candidate) => candidate.name === 'output_probability');
      assert.equal(output?.isTensor, false);
    } finally {
      await session.release();
    }
  });

  for (const name of ['binary-zipmap-f32', 'binary-zipmap-f64', 'scenario-zipmap-f32']) {
    it(`should turn the ZipMap of ${name} into the probability tensor the manifest's samples expect`, async () => {
      const files = readModel(name);
      const result = removeZipMap(files.model, 'output_probability');
      assert.equal(result.replaced, true);
      const got = await runSamples(result.bytes, files);
      got.forEach((row, index) => {
        row.forEach((value, column) => {
          assert.ok(Math.abs(value - (files.manifest.samples[index]?.probabilities[column] ?? Number.NaN)) <= 1e-6, `sample ${index} class ${column}: ${value}`);
        });
      });
    });
  }

  it('should leave a model without ZipMap byte for byte as it is', () => {
    const files = readModel('binary-tensor-f32');
    const probabilities = files.manifest.outputs as { probabilities: string };
    const result = removeZipMap(files.model, probabilities.probabilities);
    assert.equal(result.replaced, false);
    assert.equal(result.bytes, files.model);
  });

  it('should refuse bytes that are not an ONNX model', () => {
    assert.throws(() => removeZipMap(Buffer.from('this is not a model at all'), 'output_probability'), OnnxFormatError);
  });
});

import { createHash } from 'node:crypto';
import { InferenceSession } from 'onnxruntime-node';
import { FeatureBuilder, FeatureListError, type FeatureCapabilities } from '../features/featureBuilder.js';
import type { FeatureSpec } from '../features/featureSpec.js';
import { ManifestError, parseManifest, type ModelManifest } from './manifest.js';
import type { FetchedModel } from './modelSource.js';
import type { ModelTask } from './modelTask.js';
import type { DeclaredClassLabels } from './onnxClassLabels.js';
import { modelClassLabels } from './onnxModelClasses.js';
import { OnnxFormatError, removeZipMap } from './onnxZipMap.js';
import { ServingModel } from './servingModel.js';

/** Why a model version was refused; also the `reason` label of the failure metric. */
export type RejectionReason = 'manifest' | 'task' | 'classes' | 'sha256' | 'features' | 'onnx' | 'signature' | 'smoke' | 'internal';

/** A model version that must not serve. The message says why, for logs and GetModelInfo. */
export class ModelRejectedError extends Error {
  override readonly name = 'ModelRejectedError';

  constructor(
    readonly reason: RejectionReason,
    message: string,
  ) {
    super(message);
  }
}

export interface ModelLoaderOptions {
  readonly featureSpec: FeatureSpec;
  /** What this service can compute: a model needing more (history without a state store) is refused. */
  readonly featureCapabilities?: FeatureCapabilities;
  readonly intraOpThreads: number;
  /** Told +1 when a native session is created and -1 when it is released, so leaks show in metrics. */
  readonly onSessionCount?: (delta: number) => void;
}

const DEFAULT_SAMPLE_TOLERANCE = 1e-5;
const PROBABILITY_SUM_TOLERANCE = 1e-4;

/**
 * Turns fetched bytes into a checked ServingModel, or refuses them: manifest
 * schema, task, sha256, features, the class order against the model's own
 * class labels, ZipMap, input/output signature, and the manifest's sample
 * inputs, in that order. Nothing here knows where bytes come from.
 */
export class ModelLoader {
  constructor(private readonly options: ModelLoaderOptions) {}

  private manifestOf(manifestBytes: Uint8Array, where: string): ModelManifest {
    try {
      return parseManifest(manifestBytes, where);
    } catch (error) {
      if (error instanceof ManifestError) throw new ModelRejectedError('manifest', error.message);
      throw error;
    }
  }

  async load(task: ModelTask, fetched: FetchedModel): Promise<ServingModel> {
    const manifest = this.manifestOf(fetched.manifestBytes, fetched.source);
    const where = `${manifest.name} ${manifest.version}`;
    if (manifest.task !== task) {
      throw new ModelRejectedError('task', `${where} is a ${manifest.task} model; the ${task} task needs a ${task} model`);
    }
    const digest = createHash('sha256').update(fetched.modelBytes).digest('hex');
    if (digest !== manifest.sha256) {
      throw new ModelRejectedError('sha256', `${where}: ${manifest.model_file} has sha256 ${digest}, the manifest says ${manifest.sha256}`);
    }
    const features = this.featureBuilder(manifest, where);
    const session = await this.session(manifest, fetched.modelBytes, where);
    const counted = this.options.onSessionCount ?? (() => undefined);
    counted(1);
    try {
      checkSignature(session, manifest, where);
      const model = new ServingModel(task, manifest, features, session, fetched, () => {
        counted(-1);
      });
      await checkSamples(model, where);
      return model;
    } catch (error) {
      await session.release().catch(() => undefined);
      counted(-1);
      throw error;
    }
  }

  private featureBuilder(manifest: ModelManifest, where: string): FeatureBuilder {
    // Each spec version keeps every feature of the earlier ones unchanged, so older models still serve.
    if (manifest.feature_spec_version > this.options.featureSpec.specVersion) {
      throw new ModelRejectedError(
        'features',
        `${where} was built for feature spec version ${manifest.feature_spec_version}; this service implements versions up to ${this.options.featureSpec.specVersion}`,
      );
    }
    try {
      return new FeatureBuilder(this.options.featureSpec, manifest.features, this.options.featureCapabilities);
    } catch (error) {
      if (error instanceof FeatureListError) throw new ModelRejectedError('features', `${where}: ${error.message}`);
      throw error;
    }
  }

  private async session(manifest: ModelManifest, modelBytes: Uint8Array, where: string): Promise<InferenceSession> {
    let bytes: Uint8Array;
    try {
      checkClassOrder(manifest, modelClassLabels(modelBytes, manifest.outputs.probabilities, manifest.outputs.label), where);
      ({ bytes } = removeZipMap(modelBytes, manifest.outputs.probabilities));
    } catch (error) {
      if (error instanceof OnnxFormatError) throw new ModelRejectedError('onnx', `${where}: ${error.message}`);
      throw error;
    }
    try {
      return await InferenceSession.create(bytes, {
        intraOpNumThreads: this.options.intraOpThreads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        // Fatal only: a failed load or run reaches the service as an error and is logged as JSON;
        // onnxruntime's own lines on stderr would not be.
        logSeverityLevel: 4,
      });
    } catch (error) {
      throw new ModelRejectedError('onnx', `${where}: onnxruntime cannot load the model: ${firstLine(error)}`);
    }
  }
}

/**
 * The manifest's classes must be the model's columns in order (as the model
 * declares them on its probability path and in its label output): the ids equal
 * the model's integer labels (classlabels_int64s or classlabels_ints), or the
 * labels its classlabels_strings (skl2onnx writes integer labels for integer
 * targets, strings for string ones). A model that declares no labels (a graph
 * of plain operators ending in Softmax or Div) cannot be checked: its column
 * count is (signature), its order is taken from the manifest.
 * training/src/fraud_training/verify.py applies the same rule.
 */
function checkClassOrder(manifest: ModelManifest, declared: readonly DeclaredClassLabels[], where: string): void {
  const [first, second] = declared;
  if (first === undefined) return;
  if (second !== undefined) {
    const lists = declared.map((entry) => `[${entry.labels.join(', ')}] (${entry.declaredBy})`).join(', ');
    throw new ModelRejectedError('signature', `${where}: the model gives output ${manifest.outputs.probabilities} several class orders: ${lists}`);
  }
  const expected = typeof first.labels[0] === 'string' ? manifest.classes.map((entry) => entry.label) : manifest.classes.map((entry) => entry.id);
  if (first.labels.length !== expected.length || first.labels.some((label, index) => label !== expected[index])) {
    throw new ModelRejectedError(
      'signature',
      `${where}: the model's classes are [${first.labels.join(', ')}] (${first.declaredBy}), the manifest's classes are [${expected.join(', ')}]; ` +
        'the manifest must list them in the order of the model\'s probability columns',
    );
  }
  if (manifest.legitimate_class === undefined && typeof first.labels[0] === 'string') {
    // Schema version 1 takes column 0 as legitimate, right only for integer labels (0 = legitimate);
    // string labels are sorted, so column 0 of legit/fraud is fraud.
    throw new ModelRejectedError(
      'manifest',
      `${where}: a schema_version 1 manifest takes class id 0 (${first.labels[0]}) as legitimate, but the model names its classes ` +
        `[${first.labels.join(', ')}] (${first.declaredBy}), which need not put the legitimate class first; ` +
        'set "schema_version": 2 and "legitimate_class" to the legitimate label, or package the model again ' +
        '(training/run package <model.onnx> --task <task> --legitimate-class <label>)',
    );
  }
}

/** A shape as onnxruntime reports it, unnamed dimensions (empty strings) shown as N. */
function formatShape(shape: readonly (number | string)[]): string {
  return `[${shape.map((dimension) => (dimension === '' ? 'N' : String(dimension))).join(', ')}]`;
}

function checkSignature(session: InferenceSession, manifest: ModelManifest, where: string): void {
  const reject = (problem: string): never => {
    throw new ModelRejectedError('signature', `${where}: ${problem}`);
  };
  const inputs = session.inputMetadata;
  if (inputs.length !== 1) reject(`the model has ${inputs.length} inputs (${inputs.map((input) => input.name).join(', ')}); one is expected`);
  const input = inputs[0];
  if (input?.name !== manifest.input.name) reject(`the model's input is ${input?.name ?? 'missing'}, the manifest says ${manifest.input.name}`);
  if (!input?.isTensor) return reject(`input ${manifest.input.name} is not a tensor`);
  if (input.type !== manifest.input.element_type) {
    reject(`input ${input.name} is ${input.type}, the manifest says ${manifest.input.element_type}`);
  }
  const features = manifest.features.length;
  if (input.shape.length !== 2 || (typeof input.shape[1] === 'number' && input.shape[1] !== features)) {
    reject(`input ${input.name} has shape ${formatShape(input.shape)}, the manifest's ${features} features need [N, ${features}]`);
  }
  const output = session.outputMetadata.find((candidate) => candidate.name === manifest.outputs.probabilities);
  if (output === undefined) reject(`the model has no output ${manifest.outputs.probabilities}`);
  if (!output?.isTensor) return reject(`output ${manifest.outputs.probabilities} is not a tensor (nor a ZipMap that can be read as one)`);
  if (output.type !== 'float32' && output.type !== 'float64') reject(`output ${output.name} is ${output.type}, not float probabilities`);
  const classes = manifest.classes.length;
  if (output.shape.length !== 2 || (typeof output.shape[1] === 'number' && output.shape[1] !== classes)) {
    reject(`output ${output.name} has shape ${formatShape(output.shape)}, the manifest's ${classes} classes need [N, ${classes}]`);
  }
}

/** Runs the manifest's sample inputs: finite probabilities that sum to 1 and match the expected ones. */
async function checkSamples(model: ServingModel, where: string): Promise<void> {
  const { manifest } = model;
  const input = model.inputBuffer(manifest.samples.length);
  manifest.samples.forEach((sample, row) => {
    manifest.features.forEach((name, column) => {
      input[row * manifest.features.length + column] = sample.features[name] as number;
    });
  });
  let output: Float32Array | Float64Array;
  try {
    output = await model.probabilities(input, manifest.samples.length);
  } catch (error) {
    throw new ModelRejectedError('smoke', `${where}: the sample inputs do not run: ${firstLine(error)}`);
  }
  if (output.length !== manifest.samples.length * model.classCount) {
    throw new ModelRejectedError('smoke', `${where}: ${output.length} probabilities for ${manifest.samples.length} samples × ${model.classCount} classes`);
  }
  const tolerance = manifest.sample_tolerance ?? DEFAULT_SAMPLE_TOLERANCE;
  manifest.samples.forEach((sample, row) => {
    const got = Array.from(output.subarray(row * model.classCount, (row + 1) * model.classCount));
    const sum = got.reduce((total, value) => total + value, 0);
    if (got.some((value) => !Number.isFinite(value)) || Math.abs(sum - 1) > PROBABILITY_SUM_TOLERANCE) {
      throw new ModelRejectedError('smoke', `${where}: sample ${row} gives probabilities [${got.join(', ')}], not finite values summing to 1`);
    }
    const off = got.findIndex((value, index) => Math.abs(value - (sample.probabilities[index] as number)) > tolerance);
    if (off >= 0) {
      throw new ModelRejectedError(
        'smoke',
        `${where}: sample ${row} gives [${got.join(', ')}], the manifest expects [${sample.probabilities.join(', ')}] (tolerance ${tolerance})`,
      );
    }
  });
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

import { Tensor, type InferenceSession } from 'onnxruntime-node';
import type { FeatureBuilder } from '../features/featureBuilder.js';
import { serviceClasses, type ServiceClass } from './classOrder.js';
import type { ModelManifest } from './manifest.js';
import type { FetchedModel } from './modelSource.js';
import type { ModelTask } from './modelTask.js';
import { RunCoalescer } from './runCoalescer.js';

export type InputBuffer = Float32Array | Float64Array;

/** Requests up to this many rows share model runs with others (unary calls); larger ones run alone. */
const COALESCE_MAX_ROWS = 64;

/** Which stored artifact a model came from. */
export interface ModelIdentity {
  readonly name: string;
  readonly version: string;
  /** lakeFS commit id, S3 ETag, or sha256:<12 hex> for local files. */
  readonly revision: string;
}

/**
 * One checked model version with its onnxruntime session. Calls hold it with
 * acquire/release; once retired (replaced), the native session is released
 * when the last holder lets go: releasing it under a running `run` would crash
 * the process, not fail a call.
 */
export class ServingModel {
  /** The classes in the API's class-id order: the legitimate class first (see classOrder). */
  readonly classes: readonly ServiceClass[];
  /** Labels by class id (the API's). */
  readonly labels: readonly string[];
  readonly classCount: number;
  readonly featureCount: number;
  /** Binary models: the fraud probability at or above which the answer is fraud (class id 1). */
  readonly threshold: number | undefined;
  readonly loadedAt = new Date();
  readonly createdAt: Date;
  /** Where the model was configured to come from (never with credentials). */
  readonly source: string;

  private readonly inputName: string;
  private readonly outputNames: readonly string[];
  /** The model's probability column of each class id. */
  private readonly columns: Int32Array;
  /** Element type of the input tensor, from the manifest. */
  readonly elementType: 'float32' | 'float64';
  /** Largest finite value the input tensor holds (float32 models overflow above ~3.4e38). */
  readonly largestInput: number;
  private readonly coalescer: RunCoalescer;
  private currentIdentity: ModelIdentity;
  private holders = 0;
  private retired = false;
  private sessionReleased = false;
  private resolveReleased: () => void = () => undefined;
  /** Settles once the model is retired and its last call has finished (its session is being released). */
  readonly released = new Promise<void>((resolve) => {
    this.resolveReleased = resolve;
  });

  constructor(
    readonly task: ModelTask,
    readonly manifest: ModelManifest,
    readonly features: FeatureBuilder,
    private readonly session: InferenceSession,
    fetched: FetchedModel,
    private readonly onReleased: () => void = () => undefined,
  ) {
    this.currentIdentity = { name: manifest.name, version: manifest.version, revision: fetched.revision };
    this.source = fetched.source;
    this.classes = serviceClasses(manifest);
    this.labels = this.classes.map((entry) => entry.label);
    this.columns = Int32Array.from(this.classes, (entry) => entry.column);
    this.classCount = manifest.classes.length;
    this.featureCount = manifest.features.length;
    this.threshold = manifest.threshold;
    this.createdAt = new Date(manifest.created_at);
    this.inputName = manifest.input.name;
    this.outputNames = [manifest.outputs.probabilities];
    this.elementType = manifest.input.element_type;
    this.largestInput = this.elementType === 'float32' ? 3.4028234663852886e38 : Number.MAX_VALUE;
    this.coalescer = new RunCoalescer(
      (input, rows) => this.run(input, rows),
      (rows) => this.inputBuffer(rows),
      this.classCount,
    );
  }

  /** Name, version and the revision the model's bytes were last read at. */
  get identity(): ModelIdentity {
    return this.currentIdentity;
  }

  /**
   * The same bytes were read again at a newer revision (a lakeFS commit that left
   * this model unchanged): report that revision from now on. A new object, so a
   * caller that already took the identity keeps a consistent one.
   */
  moveToRevision(revision: string): void {
    this.currentIdentity = { ...this.currentIdentity, revision };
  }

  /** A zeroed input buffer for `rows` transactions, of the model's element type. */
  inputBuffer(rows: number): InputBuffer {
    const size = rows * this.featureCount;
    return this.elementType === 'float32' ? new Float32Array(size) : new Float64Array(size);
  }

  /**
   * Class probabilities, row-major [rows, classCount], in the model's column
   * order (read them by class id with probabilityOf). The caller holds the
   * model. Small requests share a run with the other calls in flight, if any.
   */
  probabilities(input: InputBuffer, rows: number): Promise<Float32Array | Float64Array> {
    return rows <= COALESCE_MAX_ROWS && this.holders > 1 ? this.coalescer.submit(input, rows) : this.run(input, rows);
  }

  private async run(input: InputBuffer, rows: number): Promise<Float32Array | Float64Array> {
    const tensor = new Tensor(this.elementType, input, [rows, this.featureCount]);
    const results = await this.session.run({ [this.inputName]: tensor }, this.outputNames);
    const output = results[this.outputNames[0] as string];
    if (output === undefined || !(output.data instanceof Float32Array || output.data instanceof Float64Array)) {
      throw new Error(`model ${this.identity.name} returned no probability tensor`);
    }
    return output.data;
  }

  /** The probability of class id `classId` in row `row` of a probabilities() result. */
  probabilityOf(probabilities: Float32Array | Float64Array, row: number, classId: number): number {
    return probabilities[row * this.classCount + (this.columns[classId] as number)] as number;
  }

  /**
   * The predicted class id of row `row`: binary models compare the probability
   * of the class that is not legitimate (id 1) with the threshold, others take
   * the most probable class (the lowest id on a tie, so the legitimate class
   * wins ties). Never the model's own label output.
   */
  classOf(probabilities: Float32Array | Float64Array, row: number): number {
    if (this.task === 'binary') return this.probabilityOf(probabilities, row, 1) >= (this.threshold ?? 0.5) ? 1 : 0;
    let best = 0;
    let bestProbability = this.probabilityOf(probabilities, row, 0);
    for (let classId = 1; classId < this.classCount; classId++) {
      const probability = this.probabilityOf(probabilities, row, classId);
      if (probability > bestProbability) {
        best = classId;
        bestProbability = probability;
      }
    }
    return best;
  }

  acquire(): void {
    this.holders++;
  }

  release(): void {
    this.holders--;
    if (this.retired && this.holders === 0) this.releaseSession();
  }

  /** Takes the model out of service; its session goes when no call holds it. */
  retire(): void {
    this.retired = true;
    if (this.holders === 0) this.releaseSession();
  }

  /** True once the native session has been released (for tests and metrics). */
  get isReleased(): boolean {
    return this.sessionReleased;
  }

  private releaseSession(): void {
    if (this.sessionReleased) return;
    this.sessionReleased = true;
    this.resolveReleased();
    // The session is never used again; a failed release only leaks memory.
    this.session.release().then(this.onReleased, this.onReleased);
  }
}

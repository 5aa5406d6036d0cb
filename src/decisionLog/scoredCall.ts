import type { Transaction } from '../gen/fraud/v1/fraud_service.js';
import type { ModelTask } from '../models/modelTask.js';
import type { ModelIdentity } from '../models/servingModel.js';

/** Whether the caller got a model's answer (serving) or it was scored beside it (shadow). */
export type DecisionRole = 'serving' | 'shadow';

/** What a model answered for one transaction, as the caller got it (or would have). */
export interface ModelAnswer {
  readonly classId: number;
  readonly prediction: string;
  readonly fraudProbability: number;
  /** By class id, the legitimate class first. */
  readonly probabilities: readonly number[];
}

/** One model's run over a call's transactions. */
export interface ModelRun {
  readonly role: DecisionRole;
  readonly task: ModelTask;
  /** Taken when the call was scored: a later revision move does not change it. */
  readonly identity: ModelIdentity;
  readonly threshold: number | undefined;
  /** The model's input features, in column order. */
  readonly featureNames: readonly string[];
  /**
   * Row-major [transactions, featureNames.length]: each transaction's features
   * as the model saw them (double precision); kept only when a recorder needs
   * them (DecisionRecorder.needsFeatures).
   */
  readonly featureRows: Float64Array | undefined;
  /** The answer for the transaction at `index`; built when the record is, off the scoring path. */
  readonly answer: (index: number) => ModelAnswer;
  /** The answer's fraud probability at `index`, without building the answer (live quality reads no more). */
  readonly fraudProbability: (index: number) => number;
  /** The answer's class id at `index` (0: legitimate). */
  readonly classId: (index: number) => number;
}

/**
 * A scoring call whose answer is ready, as the decision log takes it: only
 * references to what the call already holds, so taking it costs the call
 * nothing; the records are built later, by each sink, off the scoring path.
 */
export interface ScoredCall {
  /** The full gRPC method, e.g. fraud.v1.FraudService/Predict. */
  readonly method: string;
  readonly transactions: readonly Transaction[];
  /** The serving model first, then any shadows. */
  readonly runs: readonly ModelRun[];
  /** From the start of scoring to the answer being ready. */
  readonly latencySeconds: number;
  /** When the answer was ready (Unix milliseconds). */
  readonly decidedAtMs: number;
}

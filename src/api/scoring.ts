import { performance } from 'node:perf_hooks';
import type {
  FraudPrediction,
  PredictBatchResponse,
  PredictScenarioBatchResponse,
  ScenarioPrediction,
  Transaction,
} from '../gen/fraud/v1/fraud_service.js';
import type { TransactionHistory } from '../features/entityHistory.js';
import type { ServingModel } from '../models/servingModel.js';
import {
  ATTR_HISTORY_STORE,
  ATTR_MODEL_NAME,
  ATTR_MODEL_REVISION,
  ATTR_MODEL_TASK,
  ATTR_MODEL_VERSION,
  ATTR_ROWS,
  SPAN_HISTORY_RECORD,
  SPAN_MODEL_RUN,
  traced,
  type CallTrace,
} from '../observability/tracing.js';
import { InvalidArgumentError } from './apiErrors.js';
import { yieldToLoop } from './batchLane.js';
import type { HistoryRecorder } from './historyRecorder.js';
import { ViolationList, validateTransaction } from './validateTransaction.js';

/**
 * The scoring steps shared by the unary handlers, the batch handlers and the
 * batch workers: validation, one model run, classes, answers.
 */

export type BatchMethod = 'PredictBatch' | 'PredictScenarioBatch';

/** What one model run returned for a list of transactions. */
export interface Scored {
  readonly model: ServingModel;
  readonly probabilities: Float32Array | Float64Array;
  readonly classIds: Int32Array;
  readonly inferenceSeconds: number;
  /** Each transaction's feature values as the model saw them, when the caller asked to explain. */
  readonly explanations: readonly Record<string, number>[] | undefined;
  /** The same, row-major [transactions, features] in double precision, when kept for the decision log. */
  readonly featureRows: Float64Array | undefined;
}

export interface ScoringOptions {
  /** Records the transactions in the history first, and builds history features from it; undefined without a state store. */
  readonly history: HistoryRecorder | undefined;
  /** Field paths name `transactions[i]` (batch) or `transaction`. */
  readonly batch: boolean;
  readonly explain: boolean;
  /** Keep every row's feature values (featureRows), for the decision log. */
  readonly keepFeatures?: boolean;
  /**
   * Batches: the model runs on slices of this many rows, and other calls get
   * the event loop between two slices and after the history is recorded
   * (see batchLane.ts). Undefined: one run, no pause (unary calls).
   */
  readonly sliceRows?: number;
  /** The call's trace: history and the model run become child spans of it; undefined when tracing is off. */
  readonly trace?: CallTrace | undefined;
  /**
   * A shadow model's input rows (shadowScoring.ts), written in the same pass
   * over the history as the serving model's; undefined without a shadow.
   */
  readonly shadow?: ShadowRows | undefined;
}

/** Where a shadow model's feature rows are written, beside the serving model's. */
export interface ShadowRows {
  write(transaction: Transaction, history: TransactionHistory | undefined, index: number): void;
  /** Some row was written without history (a late transaction the serving model scores without it). */
  writtenWithoutHistory(): void;
}

/** Refuses an empty batch or one over the limit, before any work; `field` names the repeated field. */
export function checkBatchSize(count: number, maxBatchSize: number, field: 'transactions' | 'outcomes' = 'transactions'): void {
  const items = field === 'transactions' ? 'transaction' : 'outcome';
  if (count === 0) {
    throw new InvalidArgumentError([{ field, description: `must hold at least one ${items}` }]);
  }
  if (count > maxBatchSize) {
    throw new InvalidArgumentError([{ field, description: `holds ${count} ${items}s; at most ${maxBatchSize} are allowed per call` }]);
  }
}

/** Every problem of every transaction, or nothing; `batch` names fields transactions[i]. */
export function validateAll(model: ServingModel, transactions: readonly Transaction[], batch: boolean): void {
  const violations = new ViolationList();
  for (let index = 0; index < transactions.length; index++) {
    validateTransaction(transactions[index] as Transaction, model, violations.at(batch ? index : 'transaction'));
  }
  if (violations.items.length > 0) throw new InvalidArgumentError(violations.items);
}

/**
 * History, features, one model run, and the class of each row. The
 * transactions are valid. With a state store each transaction is recorded
 * (once) before it is scored, and its features come from the history as of
 * right after it was recorded. A transaction too late to record fails the
 * call when the model reads history, and is scored without it otherwise.
 */
export async function scoreTransactions(model: ServingModel, transactions: readonly Transaction[], options: ScoringOptions): Promise<Scored> {
  const input = model.inputBuffer(transactions.length);
  const explanations: Record<string, number>[] | undefined = options.explain ? [] : undefined;
  const featureRows = options.keepFeatures === true ? new Float64Array(transactions.length * model.featureCount) : undefined;
  const { shadow } = options;
  const write = (index: number, history: TransactionHistory | undefined): void => {
    const transaction = transactions[index] as Transaction;
    const values = model.features.write(transaction, history, input, index);
    if (explanations !== undefined) explanations[index] = model.features.named(values);
    featureRows?.set(values, index * model.featureCount);
    // After the serving row: the builders may share the values buffer they return.
    shadow?.write(transaction, history, index);
  };
  if (options.history === undefined) {
    for (let index = 0; index < transactions.length; index++) write(index, undefined);
  } else {
    // Features are written as each transaction's history comes back, so they are part of this span.
    const leftOut = await traced(
      options.trace?.start(SPAN_HISTORY_RECORD, { [ATTR_ROWS]: transactions.length, [ATTR_HISTORY_STORE]: options.history.store.kind }),
      options.history.record(transactions, options.batch, model.features.needsHistory, write),
    );
    // Late transactions a model without history features can still score.
    for (const index of leftOut) write(index, undefined);
    if (leftOut.length > 0) shadow?.writtenWithoutHistory();
  }
  if (options.sliceRows !== undefined) await yieldToLoop();
  const started = performance.now();
  const modelSpan = options.trace?.start(SPAN_MODEL_RUN, {
    [ATTR_ROWS]: transactions.length,
    [ATTR_MODEL_TASK]: model.task,
    [ATTR_MODEL_NAME]: model.identity.name,
    [ATTR_MODEL_VERSION]: model.identity.version,
    [ATTR_MODEL_REVISION]: model.identity.revision,
  });
  const probabilities = await traced(
    modelSpan,
    options.sliceRows === undefined || transactions.length <= options.sliceRows
      ? model.probabilities(input, transactions.length)
      : slicedProbabilities(model, input, transactions.length, options.sliceRows),
  );
  const inferenceSeconds = (performance.now() - started) / 1000;
  const classIds = new Int32Array(transactions.length);
  for (let index = 0; index < transactions.length; index++) classIds[index] = model.classOf(probabilities, index);
  return { model, probabilities, classIds, inferenceSeconds, explanations, featureRows };
}

/** The model's probabilities for `rows` rows of `input`, run `sliceRows` rows at a time with the event loop free in between. */
async function slicedProbabilities(model: ServingModel, input: Float32Array | Float64Array, rows: number, sliceRows: number): Promise<Float32Array | Float64Array> {
  const inputWidth = input.length / rows;
  let output: Float32Array | Float64Array | undefined;
  for (let start = 0; start < rows; start += sliceRows) {
    const count = Math.min(sliceRows, rows - start);
    const part = await model.probabilities(input.subarray(start * inputWidth, (start + count) * inputWidth), count);
    const outputWidth = part.length / count;
    output ??= part instanceof Float32Array ? new Float32Array(rows * outputWidth) : new Float64Array(rows * outputWidth);
    output.set(part, start * outputWidth);
    if (start + count < rows) await yieldToLoop();
  }
  return output ?? model.probabilities(input, rows);
}

/** How many rows fell in each class, for the predictions counter. */
export function classCounts(scored: Scored): number[] {
  const counts = new Array<number>(scored.model.classCount).fill(0);
  for (const classId of scored.classIds) counts[classId] = (counts[classId] ?? 0) + 1;
  return counts;
}

/**
 * One row of probabilities by class id (legitimate first, whatever the model's
 * column order), clamped to [0, 1]: float32 tree ensembles can give 1.0000001
 * or -1e-7, which callers should not have to handle.
 */
function rowOf(scored: Scored, index: number): number[] {
  const { model } = scored;
  const row = new Array<number>(model.classCount);
  for (let classId = 0; classId < model.classCount; classId++) {
    row[classId] = Math.min(1, Math.max(0, model.probabilityOf(scored.probabilities, index, classId)));
  }
  return row;
}

/**
 * The answer for one transaction. Class id 0 is the legitimate class, so the
 * fraud probability of a scenario model is 1 - P(class 0); that of a binary
 * model is P(class 1), the probability of its class that is not legitimate,
 * which the threshold was compared with (equal to 1 - P(legitimate) but for
 * the model's float rounding). (FraudPrediction and ScenarioPrediction have the
 * same fields.)
 */
export function predictionOf(scored: Scored, transactions: readonly Transaction[], index: number): FraudPrediction & ScenarioPrediction {
  const probabilities = rowOf(scored, index);
  const classId = scored.classIds[index] as number;
  return {
    prediction: scored.model.labels[classId] as string,
    classProbability: probabilities[classId] as number,
    classId,
    fraudProbability: fraudProbability(scored, index),
    probabilities,
    transactionId: transactions[index]?.transactionId ?? 0n,
    features: scored.explanations?.[index] ?? {},
  };
}

/**
 * The fraud probability of transaction `index` as its answer says it (see
 * predictionOf), without building the answer: fraud_prediction_score counts it.
 */
export function fraudProbability(scored: Scored, index: number): number {
  const { model, probabilities } = scored;
  return model.task === 'binary' ? unit(model.probabilityOf(probabilities, index, 1)) : 1 - unit(model.probabilityOf(probabilities, index, 0));
}

function unit(value: number): number {
  return Math.min(1, Math.max(0, value));
}

export function fraudBatchAnswer(scored: Scored, transactions: readonly Transaction[]): PredictBatchResponse {
  return {
    predictions: transactions.map((_, index) => predictionOf(scored, transactions, index)),
    model: scored.model.identity,
    threshold: scored.model.threshold ?? 0,
  };
}

export function scenarioBatchAnswer(scored: Scored, transactions: readonly Transaction[]): PredictScenarioBatchResponse {
  return {
    predictions: transactions.map((_, index) => predictionOf(scored, transactions, index)),
    model: scored.model.identity,
  };
}

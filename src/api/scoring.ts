import { performance } from 'node:perf_hooks';
import type {
  FraudPrediction,
  PredictBatchResponse,
  PredictScenarioBatchResponse,
  ScenarioPrediction,
  Transaction,
} from '../gen/fraud/v1/fraud_service.js';
import type { ServingModel } from '../models/servingModel.js';
import { InvalidArgumentError } from './apiErrors.js';
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
}

/** Refuses an empty batch or one over the limit, before any work. */
export function checkBatchSize(count: number, maxBatchSize: number): void {
  if (count === 0) {
    throw new InvalidArgumentError([{ field: 'transactions', description: 'must hold at least one transaction' }]);
  }
  if (count > maxBatchSize) {
    throw new InvalidArgumentError([
      { field: 'transactions', description: `holds ${count} transactions; at most ${maxBatchSize} are allowed per call` },
    ]);
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

/** Features, one model run, and the class of each row. The transactions are valid. */
export async function scoreTransactions(model: ServingModel, transactions: readonly Transaction[]): Promise<Scored> {
  const input = model.inputBuffer(transactions.length);
  for (let index = 0; index < transactions.length; index++) {
    model.features.write(transactions[index] as Transaction, input, index);
  }
  const started = performance.now();
  const probabilities = await model.probabilities(input, transactions.length);
  const inferenceSeconds = (performance.now() - started) / 1000;
  const classIds = new Int32Array(transactions.length);
  for (let index = 0; index < transactions.length; index++) classIds[index] = model.classOf(probabilities, index);
  return { model, probabilities, classIds, inferenceSeconds };
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
    fraudProbability: scored.model.task === 'binary' ? (probabilities[1] as number) : 1 - (probabilities[0] as number),
    probabilities,
    transactionId: transactions[index]?.transactionId ?? 0n,
  };
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

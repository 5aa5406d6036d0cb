import type { ServerUnaryCall } from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import {
  ModelTask as ApiModelTask,
  type FraudPrediction,
  type FraudServiceServer,
  type ModelInfo,
  type PredictResponse,
  type PredictScenarioResponse,
  type ScenarioPrediction,
  type Transaction,
} from '../gen/fraud/v1/fraud_service.js';
import type { ModelRegistry, TaskStatus } from '../models/modelRegistry.js';
import type { ModelTask } from '../models/modelTask.js';
import type { ServingModel } from '../models/servingModel.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { CallCancelledError, InvalidArgumentError, ModelUnavailableError, type FieldViolation } from './apiErrors.js';
import { unaryCall } from './unaryCall.js';
import { validateTransaction } from './validateTransaction.js';

export interface FraudServiceOptions {
  readonly registry: ModelRegistry;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly maxBatchSize: number;
}

/** What one model run returned for a list of transactions. */
interface Scored {
  readonly model: ServingModel;
  readonly probabilities: Float32Array | Float64Array;
  readonly classIds: Int32Array;
}

type Call = ServerUnaryCall<unknown, unknown>;

/**
 * The FraudService handlers: request → validation → features → one model run
 * → classes → answer. Each call takes its model from the registry once, so a
 * swap in the middle of a call never mixes two versions.
 */
export function createFraudService(options: FraudServiceOptions): FraudServiceServer {
  const { registry, metrics, logger, maxBatchSize } = options;
  const predictionCounters = new WeakMap<ServingModel, ReturnType<typeof metrics.predictions.labels>[]>();
  const inferenceTimers = {
    binary: metrics.inferenceDuration.labels('binary'),
    multiclass: metrics.inferenceDuration.labels('multiclass'),
  };
  const batchSizes = {
    PredictBatch: metrics.batchSize.labels('PredictBatch'),
    PredictScenarioBatch: metrics.batchSize.labels('PredictScenarioBatch'),
  };

  const countPredictions = (model: ServingModel, classIds: Int32Array): void => {
    let counters = predictionCounters.get(model);
    if (counters === undefined) {
      counters = model.labels.map((label) => metrics.predictions.labels(model.task, model.identity.name, label));
      predictionCounters.set(model, counters);
    }
    if (classIds.length === 1) {
      counters[classIds[0] as number]?.inc();
      return;
    }
    // One counter update per class, not per transaction: batches hold thousands.
    const perClass = new Array<number>(counters.length).fill(0);
    for (const classId of classIds) perClass[classId] = (perClass[classId] ?? 0) + 1;
    perClass.forEach((count, classId) => {
      if (count > 0) counters[classId]?.inc(count);
    });
  };

  const score = async (
    task: ModelTask,
    transactions: readonly Transaction[],
    batch: boolean,
    call: Call,
  ): Promise<Scored> => {
    const model = registry.acquire(task);
    if (model === undefined) {
      throw new ModelUnavailableError(`the ${task} model is not loaded yet; retry with backoff`);
    }
    try {
      const violations: FieldViolation[] = [];
      for (let index = 0; index < transactions.length; index++) {
        validateTransaction(transactions[index] as Transaction, batch ? index : 'transaction', model, violations);
      }
      if (violations.length > 0) throw new InvalidArgumentError(violations);
      const input = model.inputBuffer(transactions.length);
      for (let index = 0; index < transactions.length; index++) {
        model.features.write(transactions[index] as Transaction, input, index);
      }
      if (call.cancelled) throw new CallCancelledError('the call was cancelled before scoring');
      const started = performance.now();
      const probabilities = await model.probabilities(input, transactions.length);
      inferenceTimers[task].observe((performance.now() - started) / 1000);
      const classIds = new Int32Array(transactions.length);
      for (let index = 0; index < transactions.length; index++) classIds[index] = model.classOf(probabilities, index);
      countPredictions(model, classIds);
      return { model, probabilities, classIds };
    } finally {
      model.release();
    }
  };

  const single = (transaction: Transaction | undefined): Transaction[] => {
    if (transaction === undefined) throw new InvalidArgumentError([{ field: 'transaction', description: 'is required' }]);
    return [transaction];
  };

  const batch = (method: keyof typeof batchSizes, transactions: Transaction[]): Transaction[] => {
    if (transactions.length === 0) {
      throw new InvalidArgumentError([{ field: 'transactions', description: 'must hold at least one transaction' }]);
    }
    if (transactions.length > maxBatchSize) {
      throw new InvalidArgumentError([
        { field: 'transactions', description: `holds ${transactions.length} transactions; at most ${maxBatchSize} are allowed per call` },
      ]);
    }
    batchSizes[method].observe(transactions.length);
    return transactions;
  };

  return {
    predict: unaryCall('Predict', metrics, logger, async (request, call): Promise<PredictResponse> => {
      const transactions = single(request.transaction);
      const scored = await score('binary', transactions, false, call);
      return { ...fraudPrediction(scored, transactions, 0), threshold: scored.model.threshold ?? 0, model: scored.model.identity };
    }),

    predictScenario: unaryCall('PredictScenario', metrics, logger, async (request, call): Promise<PredictScenarioResponse> => {
      const transactions = single(request.transaction);
      const scored = await score('multiclass', transactions, false, call);
      return { ...scenarioPrediction(scored, transactions, 0), model: scored.model.identity };
    }),

    predictBatch: unaryCall('PredictBatch', metrics, logger, async (request, call) => {
      const transactions = batch('PredictBatch', request.transactions);
      const scored = await score('binary', transactions, true, call);
      return {
        predictions: transactions.map((_, index) => fraudPrediction(scored, transactions, index)),
        model: scored.model.identity,
        threshold: scored.model.threshold ?? 0,
      };
    }),

    predictScenarioBatch: unaryCall('PredictScenarioBatch', metrics, logger, async (request, call) => {
      const transactions = batch('PredictScenarioBatch', request.transactions);
      const scored = await score('multiclass', transactions, true, call);
      return {
        predictions: transactions.map((_, index) => scenarioPrediction(scored, transactions, index)),
        model: scored.model.identity,
      };
    }),

    getModelInfo: unaryCall('GetModelInfo', metrics, logger, () => Promise.resolve({ models: registry.status().map(modelInfo) })),
  };
}

/**
 * One row of probabilities, clamped to [0, 1]: float32 tree ensembles can give
 * 1.0000001 or -1e-7, which callers should not have to handle.
 */
function rowOf(scored: Scored, index: number): number[] {
  const { classCount } = scored.model;
  const row = new Array<number>(classCount);
  for (let column = 0; column < classCount; column++) {
    row[column] = Math.min(1, Math.max(0, scored.probabilities[index * classCount + column] as number));
  }
  return row;
}

function fraudPrediction(scored: Scored, transactions: readonly Transaction[], index: number): FraudPrediction {
  const probabilities = rowOf(scored, index);
  const classId = scored.classIds[index] as number;
  return {
    prediction: scored.model.labels[classId] as string,
    classProbability: probabilities[classId] as number,
    classId,
    fraudProbability: probabilities[1] as number,
    probabilities,
    transactionId: transactions[index]?.transactionId ?? 0n,
  };
}

function scenarioPrediction(scored: Scored, transactions: readonly Transaction[], index: number): ScenarioPrediction {
  const probabilities = rowOf(scored, index);
  const classId = scored.classIds[index] as number;
  return {
    prediction: scored.model.labels[classId] as string,
    classProbability: probabilities[classId] as number,
    classId,
    fraudProbability: 1 - (probabilities[0] as number),
    probabilities,
    transactionId: transactions[index]?.transactionId ?? 0n,
  };
}

const API_TASKS: Readonly<Record<ModelTask, ApiModelTask>> = {
  binary: ApiModelTask.MODEL_TASK_BINARY,
  multiclass: ApiModelTask.MODEL_TASK_MULTICLASS,
};

function modelInfo(status: TaskStatus): ModelInfo {
  const { model } = status;
  return {
    task: API_TASKS[status.task],
    serving: model !== undefined,
    model: model?.identity,
    features: model ? [...model.features.names] : [],
    classes: model ? model.manifest.classes.map(({ id, label }) => ({ id, label })) : [],
    threshold: model?.threshold,
    inputElementType: model?.elementTypeName ?? '',
    source: status.source,
    sha256: model?.manifest.sha256 ?? '',
    createdAt: model?.createdAt,
    loadedAt: model?.loadedAt,
    lastCheckedAt: status.lastCheckedAt,
    lastError: status.lastError?.message ?? '',
    lastErrorAt: status.lastError?.at,
  };
}

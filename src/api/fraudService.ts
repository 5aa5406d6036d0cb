import type { ServerUnaryCall } from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import {
  FraudServiceService,
  type FraudServiceServer,
  type PredictResponse,
  type OutcomeResult,
  type PredictScenarioResponse,
  type Transaction,
  type TransactionOutcome,
} from '../gen/fraud/v1/fraud_service.js';
import type { ModelRegistry } from '../models/modelRegistry.js';
import type { ModelTask } from '../models/modelTask.js';
import type { ServingModel } from '../models/servingModel.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { ATTR_HISTORY_STORE, ATTR_ROWS, SPAN_HISTORY_OUTCOMES, traced, traceOf, type CallTrace } from '../observability/tracing.js';
import { CallCancelledError, FailedPreconditionError, InvalidArgumentError, ModelUnavailableError } from './apiErrors.js';
import type { HistoryRecorder } from './historyRecorder.js';
import type { JoinedOutcomes, OutcomeReports } from './outcomeReports.js';
import {
  checkBatchSize,
  fraudBatchAnswer,
  predictionOf,
  scenarioBatchAnswer,
  scoreTransactions,
  validateAll,
  type BatchMethod,
  type Scored,
} from './scoring.js';
import { modelInfoOf, REDACTED_ERROR } from './modelInfo.js';
import { methodLabel } from './callMetrics.js';
import { PredictionMetrics } from './predictionMetrics.js';
import { unaryCall } from './unaryCall.js';
import { recordDecisions, scoredCallOf, type DecisionRecorder } from './decisionCapture.js';
import type { ShadowScoring } from './shadowScoring.js';
import type { BatchLane } from './batchLane.js';
import { predictStreamHandler } from './predictStream.js';
import { DEFAULT_MAX_ROWS_IN_FLIGHT_PER_STREAM } from '../config/config.js';
import { DEFAULT_QUALITY_RETENTION_DAYS } from '../config/stateConfig.js';
import type { QualityFeed } from '../quality/qualityFeed.js';
import { getModelQuality } from './modelQuality.js';

export interface FraudServiceOptions {
  readonly registry: ModelRegistry;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly maxBatchSize: number;
  /** Records scored transactions in the state store; undefined when the service keeps no history. */
  readonly history: HistoryRecorder | undefined;
  /** Records fraud outcomes in the same store; undefined with it. */
  readonly outcomes: OutcomeReports | undefined;
  /** GetModelInfo and UNAVAILABLE answers show store URLs and raw error text (FRAUD_MODEL_INFO_DETAILS). */
  readonly modelInfoDetails: boolean;
  /** Batch transactions scored at once (FRAUD_MAX_BATCH_ROWS_SCORING); unary calls never wait for them. */
  readonly batchLane: BatchLane;
  /** Takes every answered scoring call (the decision log); undefined when it is off. */
  readonly decisions?: DecisionRecorder;
  /** Transactions of one PredictStream in flight before it is read no more (FRAUD_MAX_ROWS_IN_FLIGHT_PER_STREAM). */
  readonly maxRowsInFlightPerStream?: number;
  /** Live quality: takes the outcomes joined to scores, and answers GetModelQuality; undefined without a state store. */
  readonly quality?: QualityFeed;
  /** FRAUD_QUALITY_RETENTION_DAYS: the longest window GetModelQuality serves (with at most 90). */
  readonly qualityRetentionDays?: number;
  /** Challenger models scored after each answer (FRAUD_*_SHADOW_MODEL_URI); undefined when none is configured. */
  readonly shadows?: ShadowScoring;
}

/** Each method's full gRPC name, the `method` label of its metrics and log lines (`fraud.v1.FraudService/Predict`). */
const METHODS = Object.fromEntries(
  Object.entries(FraudServiceService).map(([key, definition]) => [key, methodLabel(definition.path)]),
) as Readonly<Record<keyof typeof FraudServiceService, string>>;

/** Rows per model run of a batch: a few milliseconds of the event loop each. */
const BATCH_SLICE_ROWS = 2_000;

type Call = ServerUnaryCall<unknown, unknown>;

/**
 * The FraudService handlers: request → validation → features → one model run
 * → classes → answer. Each call takes its model from the registry once, so a
 * swap in the middle of a call never mixes two versions.
 */
export function createFraudService(options: FraudServiceOptions): FraudServiceServer {
  const { registry, metrics, logger, maxBatchSize, history, outcomes, modelInfoDetails, batchLane, decisions, quality, shadows } = options;
  const qualityOptions = {
    ledger: quality?.ledger,
    unavailable: 'this service keeps no history (FRAUD_STATE_STORE=none), so no outcome is joined to the scores models gave: live model quality needs a state store',
    retentionDays: options.qualityRetentionDays ?? DEFAULT_QUALITY_RETENTION_DAYS,
  };
  const predictions = new PredictionMetrics(metrics, registry);
  const outcomeCounters = {
    applied: metrics.state.outcomes.labels('applied'),
    duplicate: metrics.state.outcomes.labels('duplicate'),
    conflict: metrics.state.outcomes.labels('conflict'),
    unknown_transaction: metrics.state.outcomes.labels('unknown_transaction'),
    before_transaction: metrics.state.outcomes.labels('before_transaction'),
    corrected: metrics.state.outcomes.labels('corrected'),
    out_of_order: metrics.state.outcomes.labels('out_of_order'),
    too_many_corrections: metrics.state.outcomes.labels('too_many_corrections'),
  };
  const batchSizes = {
    PredictBatch: metrics.batchSize.labels(METHODS.predictBatch),
    PredictScenarioBatch: metrics.batchSize.labels(METHODS.predictScenarioBatch),
  };

  /** Runs `work` with the serving model of `task`, held for the whole call. */
  const withModel = async <T>(task: ModelTask, work: (model: ServingModel) => Promise<T>): Promise<T> => {
    const model = registry.acquire(task);
    if (model === undefined) throw new ModelUnavailableError(notServing(registry, task, modelInfoDetails));
    try {
      return await work(model);
    } finally {
      model.release();
    }
  };

  const score = async (model: ServingModel, transactions: readonly Transaction[], batch: boolean, explain: boolean, call: Call): Promise<Scored> => {
    const startedAt = performance.now();
    validateAll(model, transactions, batch);
    // A caller that went away gets nothing recorded and nothing scored. grpc-js
    // sets call.cancelled on a later tick than the one that runs the handler,
    // even for a reset that came with the request: let the events already
    // received run first.
    await new Promise<void>((resume) => setImmediate(resume));
    if (call.cancelled) throw new CallCancelledError('the call was cancelled before scoring');
    const trace = traceOf(call);
    trace?.span.setAttribute(ATTR_ROWS, transactions.length);
    const keepFeatures = decisions?.needsFeatures === true;
    // Held from here to the end of its run (or given back at once if the call fails).
    const shadow = shadows?.begin(model, transactions.length, keepFeatures);
    let scored: Scored;
    try {
      scored = await scoreTransactions(model, transactions, { history, batch, explain, keepFeatures, sliceRows: batch ? BATCH_SLICE_ROWS : undefined, trace, shadow });
    } catch (error) {
      shadow?.abandon();
      throw error;
    }
    predictions.record(scored);
    // The answer is ready: the decision log takes references to it, and builds its records later.
    // With a shadow, it takes them once the shadow has run, after the answer is sent.
    if (shadow !== undefined) shadow.afterAnswer(transactions, decisions && scoredCallOf(call.getPath(), scored, transactions, startedAt), decisions, trace);
    else if (decisions !== undefined) recordDecisions(decisions, call.getPath(), scored, transactions, startedAt);
    return scored;
  };

  const single = (transaction: Transaction | undefined): Transaction[] => {
    if (transaction === undefined) throw new InvalidArgumentError([{ field: 'transaction', description: 'is required' }]);
    return [transaction];
  };

  const batch = (method: BatchMethod, transactions: Transaction[]): Transaction[] => {
    checkBatchSize(transactions.length, maxBatchSize);
    batchSizes[method].observe(transactions.length);
    return transactions;
  };

  return {
    predict: unaryCall(METHODS.predict, metrics, logger, (request, call) =>
      withModel('binary', async (model): Promise<PredictResponse> => {
        const transactions = single(request.transaction);
        const scored = await score(model, transactions, false, request.explain, call);
        return { ...predictionOf(scored, transactions, 0), threshold: model.threshold ?? 0, model: model.identity };
      }),
    ),

    predictScenario: unaryCall(METHODS.predictScenario, metrics, logger, (request, call) =>
      withModel('multiclass', async (model): Promise<PredictScenarioResponse> => {
        const transactions = single(request.transaction);
        const scored = await score(model, transactions, false, request.explain, call);
        return { ...predictionOf(scored, transactions, 0), model: model.identity };
      }),
    ),

    predictBatch: unaryCall(
      METHODS.predictBatch,
      metrics,
      logger,
      async (request, call) => {
        const transactions = batch('PredictBatch', request.transactions);
        return withModel('binary', async (model) => fraudBatchAnswer(await score(model, transactions, true, request.explain, call), transactions));
      },
      batchLane,
    ),

    predictScenarioBatch: unaryCall(
      METHODS.predictScenarioBatch,
      metrics,
      logger,
      async (request, call) => {
        const transactions = batch('PredictScenarioBatch', request.transactions);
        return withModel('multiclass', async (model) => scenarioBatchAnswer(await score(model, transactions, true, request.explain, call), transactions));
      },
      batchLane,
    ),

    predictStream: predictStreamHandler({
      method: METHODS.predictStream,
      logger,
      history,
      batchLane,
      predictions,
      withModel,
      maxRowsInFlight: options.maxRowsInFlightPerStream ?? DEFAULT_MAX_ROWS_IN_FLIGHT_PER_STREAM,
      decisions,
      shadows,
    }),

    getModelInfo: unaryCall(METHODS.getModelInfo, metrics, logger, () =>
      Promise.resolve({
        models: registry.status().map((status) => modelInfoOf(status, modelInfoDetails)),
        shadows: shadows?.status().map((status) => modelInfoOf(status, modelInfoDetails)) ?? [],
      }),
    ),

    getModelQuality: unaryCall(METHODS.getModelQuality, metrics, logger, (request) => getModelQuality(request, qualityOptions)),

    reportOutcome: unaryCall(METHODS.reportOutcome, metrics, logger, async (request, call) => {
      if (request.outcome === undefined) throw new InvalidArgumentError([{ field: 'outcome', description: 'is required' }]);
      const [result] = await reportOutcomes([request.outcome], false, traceOf(call));
      return { result };
    }),

    reportOutcomeBatch: unaryCall(METHODS.reportOutcomeBatch, metrics, logger, async (request, call) => {
      checkBatchSize(request.outcomes.length, maxBatchSize, 'outcomes');
      return { results: await reportOutcomes(request.outcomes, true, traceOf(call)) };
    }),
  };

  async function reportOutcomes(reports: readonly TransactionOutcome[], batch: boolean, trace: CallTrace | undefined): Promise<OutcomeResult[]> {
    if (outcomes === undefined) {
      throw new FailedPreconditionError('this service keeps no history (FRAUD_STATE_STORE=none), so it has nowhere to record outcomes');
    }
    trace?.span.setAttribute(ATTR_ROWS, reports.length);
    const { results, statuses, corrections, quality: joined } = await traced(
      trace?.start(SPAN_HISTORY_OUTCOMES, { [ATTR_ROWS]: reports.length, [ATTR_HISTORY_STORE]: history?.store.kind }),
      outcomes.report(reports, batch),
    );
    for (const status of statuses) outcomeCounters[status].inc();
    // After the store answered, and not awaited: live quality never delays or fails the call.
    if (quality !== undefined) countQuality(quality, joined, logger);
    // A correction changes what later scores see: each one is worth a line (they are rare).
    for (const correction of corrections) {
      logger.info(
        { transactionId: String(correction.transactionId), from: correction.from, to: correction.to, knownAt: new Date(correction.knownAt * 1000).toISOString() },
        'outcome corrected',
      );
    }
    return results;
  }
}

/**
 * Hands the outcomes to live quality. The ledger counts its own failures and
 * never rejects; anything else that goes wrong there is a bug, logged, and
 * still not the caller's failure: the outcome is recorded already.
 */
function countQuality(quality: QualityFeed, joined: JoinedOutcomes, logger: Logger): void {
  const failed = (error: unknown): void => {
    logger.error({ err: error }, 'live quality failed to count outcomes');
  };
  try {
    for (const status of joined.unscored) quality.unscored(status);
    quality.take(joined.updates).catch(failed);
  } catch (error) {
    failed(error);
  }
}

/** Longest part of a model error repeated to callers (the whole one is in GetModelInfo and the log). */
const MAX_ERROR_ECHO = 300;

/**
 * Why `task` has no model, for the callers turned away: its last error (a
 * refused version, an unreachable store with no cached copy; its text only
 * with `details`, as in GetModelInfo), or, before the first attempt ends,
 * that it is still loading.
 */
function notServing(registry: ModelRegistry, task: ModelTask, details: boolean): string {
  const error = registry.status().find((status) => status.task === task)?.lastError;
  if (error === undefined) return `the ${task} model is not loaded yet; retry with backoff`;
  if (!details) return `no ${task} model is serving: ${REDACTED_ERROR}; retry with backoff`;
  const reason = error.message.length > MAX_ERROR_ECHO ? `${error.message.slice(0, MAX_ERROR_ECHO)}…` : error.message;
  return `no ${task} model is serving: ${reason}; retry with backoff`;
}

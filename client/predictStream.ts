import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import {
  ModelTask,
  type FraudPrediction,
  type FraudServiceClient,
  type ModelRef,
  type PredictStreamRequest,
  type PredictStreamResponse,
  type ScenarioPrediction,
} from '../src/gen/fraud/v1/fraud_service.js';
import { BadRequest, ErrorInfo } from '../src/gen/google/rpc/error_details.js';
import type { Status } from '../src/gen/google/rpc/status.js';
import { FraudCallError, type TransactionInput } from './fraudClient.js';
import { toTransaction } from './transactionMessage.js';

/** Most transactions one request message may carry (the service's limit). */
export const MAX_PER_STREAM_MESSAGE = 100;

export interface PredictStreamOptions {
  /** Transactions per request message (1 to 100; the service scores what arrives together in one run). */
  readonly perMessage?: number;
  /** Ask for the feature values the model saw. */
  readonly explain?: boolean;
  /** The binary model (default; answers in `prediction`) or the multiclass one (answers in `scenario`). */
  readonly task?: 'binary' | 'scenario';
  /** Deadline of the whole stream; none by default (a file of millions takes as long as it takes). */
  readonly deadlineMs?: number;
}

/** One transaction's answer from PredictStream: its prediction, or why it was not scored. */
export interface StreamedPrediction {
  readonly transactionId: bigint;
  readonly prediction: FraudPrediction | undefined;
  /** The fraud scenario, when the stream asked the multiclass model (task 'scenario'). */
  readonly scenario: ScenarioPrediction | undefined;
  /** The transaction's own error (INVALID_ARGUMENT, ALREADY_EXISTS); the others were scored. */
  readonly error: FraudCallError | undefined;
  readonly model: ModelRef | undefined;
  readonly threshold: number;
}

const BAD_REQUEST_TYPE_URL = 'type.googleapis.com/google.rpc.BadRequest';
const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';

/**
 * Scores `transactions` on one PredictStream call and yields each answer, in
 * order, as it comes. Sending follows the stream's flow control: it waits
 * while grpc-js has not drained what was written (the service stops reading
 * when it has enough in flight), so a large file never sits in memory. A
 * problem of the whole stream (UNAVAILABLE, RESOURCE_EXHAUSTED...) throws a
 * FraudCallError; the transactions answered before it were scored, the
 * others not. Stopping the iteration early cancels the call.
 */
export async function* predictStream(
  stub: FraudServiceClient,
  transactions: Iterable<TransactionInput> | AsyncIterable<TransactionInput>,
  options: PredictStreamOptions = {},
): AsyncGenerator<StreamedPrediction> {
  const perMessage = Math.min(MAX_PER_STREAM_MESSAGE, Math.max(1, options.perMessage ?? 10));
  const explain = options.explain ?? false;
  const task = options.task === 'scenario' ? ModelTask.MODEL_TASK_MULTICLASS : ModelTask.MODEL_TASK_BINARY;
  const call = stub.predictStream(new Metadata(), options.deadlineMs === undefined ? {} : { deadline: new Date(Date.now() + options.deadlineMs) });
  let sendError: unknown;
  const send = async (): Promise<void> => {
    let batch: TransactionInput[] = [];
    const flush = async (): Promise<void> => {
      const request: PredictStreamRequest = { transactions: batch.map(toTransaction), explain, task };
      batch = [];
      if (!call.write(request)) await new Promise<void>((drained) => call.once('drain', drained));
    };
    for await (const transaction of transactions) {
      batch.push(transaction);
      if (batch.length >= perMessage) await flush();
    }
    if (batch.length > 0) await flush();
    call.end();
  };
  const sending = send().catch((error: unknown) => {
    sendError = error;
    call.cancel();
  });
  let finished = false;
  try {
    for await (const response of call as AsyncIterable<PredictStreamResponse>) {
      if (response.error !== undefined) throw errorOf(response.error);
      for (const result of response.results) {
        yield {
          transactionId: result.transactionId,
          prediction: result.prediction,
          scenario: result.scenario,
          error: result.error === undefined ? undefined : errorOf(result.error),
          model: response.model,
          threshold: response.threshold,
        };
      }
    }
    finished = true;
  } catch (error) {
    if (sendError instanceof Error) throw sendError;
    throw isServiceError(error) ? new FraudCallError(error.code, error.details, [], undefined) : error;
  } finally {
    if (!finished) call.cancel();
    await sending;
  }
}

/** A google.rpc.Status of the stream's answers, as the error a unary call would have thrown. */
function errorOf(result: Status): FraudCallError {
  const violations = result.details
    .filter((detail) => detail.typeUrl === BAD_REQUEST_TYPE_URL)
    .flatMap((detail) => BadRequest.decode(detail.value).fieldViolations)
    .map(({ field, description }) => ({ field, description }));
  const info = result.details.find((detail) => detail.typeUrl === ERROR_INFO_TYPE_URL);
  return new FraudCallError(codeOf(result.code), result.message, violations, info === undefined ? undefined : ErrorInfo.decode(info.value).reason);
}

/** The gRPC code of a status number (an unknown one is UNKNOWN). */
function codeOf(code: number): status {
  const known: unknown = status[code];
  return typeof known === 'string' ? (status[known as keyof typeof status]) : status.UNKNOWN;
}

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && 'code' in error && 'details' in error;
}

/** What a command that prints answers needs of a group of them: PredictBatchResponse's shape. */
export interface AnsweredGroup {
  readonly model: ModelRef | undefined;
  readonly predictions: readonly (FraudPrediction | ScenarioPrediction)[];
}

/**
 * The answers of `predictStream` in groups of up to `groupSize`, in order,
 * for the CLI's batch command: the first transaction the service refuses
 * stops the run with its error, as a refused batch did (the transactions
 * before it were scored and are yielded first).
 */
export async function* streamedGroups(
  answers: AsyncIterable<StreamedPrediction>,
  groupSize: number,
  onProgress?: (scored: number) => void,
): AsyncGenerator<AnsweredGroup> {
  let group: (FraudPrediction | ScenarioPrediction)[] = [];
  let model: ModelRef | undefined;
  let scored = 0;
  const flush = (): AnsweredGroup => {
    const done = { model, predictions: group };
    scored += group.length;
    group = [];
    onProgress?.(scored);
    return done;
  };
  for await (const answer of answers) {
    if (answer.error !== undefined) {
      if (group.length > 0) yield flush();
      throw answer.error;
    }
    const prediction = answer.prediction ?? answer.scenario;
    if (prediction === undefined) continue;
    model = answer.model;
    group.push(prediction);
    if (group.length >= groupSize) yield flush();
  }
  if (group.length > 0) yield flush();
}

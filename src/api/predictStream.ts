import type { handleBidiStreamingCall, ServerDuplexStream } from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { ModelTask as ProtoModelTask, type PredictStreamRequest, type PredictStreamResponse, type PredictStreamResult, type Transaction } from '../gen/fraud/v1/fraud_service.js';
import type { ModelTask } from '../models/modelTask.js';
import { Status } from '../gen/google/rpc/status.js';
import type { ServingModel } from '../models/servingModel.js';
import type { Logger } from '../observability/logger.js';
import { AlreadyRecordedError, InvalidArgumentError, MalformedRequestError, toCallError, type FieldViolation } from './apiErrors.js';
import type { BatchLane } from './batchLane.js';
import { recordDecisions, scoredCallOf, type DecisionRecorder } from './decisionCapture.js';
import type { ShadowRun, ShadowScoring } from './shadowScoring.js';
import type { HistoryRecorder } from './historyRecorder.js';
import type { PredictionMetrics } from './predictionMetrics.js';
import { CheckedRequest } from './requestDecoding.js';
import type { RowHold } from './rowAdmission.js';
import { checkBatchSize, predictionOf, scoreTransactions, type Scored } from './scoring.js';
import { ViolationList, validateTransaction } from './validateTransaction.js';

/** Transactions one request message of the stream may carry ("one or a few"; see the proto). */
export const MAX_TRANSACTIONS_PER_STREAM_REQUEST = 100;

const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

export interface PredictStreamOptions {
  readonly method: string;
  readonly logger: Logger;
  readonly history: HistoryRecorder | undefined;
  readonly batchLane: BatchLane;
  readonly predictions: PredictionMetrics;
  /** Runs `work` with the serving model of `task` held, or throws ModelUnavailableError (fraudService.ts). */
  readonly withModel: <T>(task: ModelTask, work: (model: ServingModel) => Promise<T>) => Promise<T>;
  /** Transactions received and not yet answered and written, past which the stream is not read (FRAUD_MAX_ROWS_IN_FLIGHT_PER_STREAM). */
  readonly maxRowsInFlight: number;
  /** Takes every scored micro-batch (the decision log), as it takes every answered unary or batch call; undefined when it is off. */
  readonly decisions?: DecisionRecorder;
  /** Challenger models, run on each micro-batch once its answers are written; undefined when none is configured. */
  readonly shadows?: ShadowScoring;
}

/** One request message of the stream, from its arrival until its answer is written. */
interface Received {
  readonly index: number;
  readonly request: PredictStreamRequest | undefined;
  /** Why the request as a whole is refused (malformed, empty, too many transactions). */
  readonly error: Status | undefined;
  readonly hold: RowHold | undefined;
  readonly rows: number;
}

/** One valid transaction of a micro-batch, and where its result goes. */
interface Item {
  readonly transaction: Transaction;
  readonly results: PredictStreamResult[];
  readonly position: number;
  readonly explain: boolean;
}

/**
 * PredictStream: many requests on one call, each answered in order once its
 * transactions are scored. The requests that arrived while the previous ones
 * were scored make the next micro-batch: one model run and one history write,
 * through the same steps as PredictBatch (validation, scoreTransactions, the
 * batch lane). A transaction with a problem of its own gets an error result;
 * only what concerns the whole stream (no model, no history store, an
 * unexpected fault) ends it with a status.
 *
 * Bounded: reading stops while `maxRowsInFlight` transactions are between
 * arrival and their written answer, or while the answers written are not
 * drained (grpc-js `write` returned false), so a client that does not read
 * holds the service's memory to that plus what HTTP/2 flow control lets
 * through. The rows are counted by admission control (rowAdmission.ts) until
 * their answer is written; an answer left unread past the time limit resets
 * the stream.
 */
export function predictStreamHandler(options: PredictStreamOptions): handleBidiStreamingCall<unknown, PredictStreamResponse> {
  return (call) => {
    new StreamScoring(call, options).start();
  };
}

class StreamScoring {
  private readonly queue: Received[] = [];
  private received = 0;
  private inFlight = 0;
  private scoring = false;
  private inputEnded = false;
  private closed = false;
  private undrained = false;
  private paused = false;
  /** Shadow runs of the micro-batch being answered, started once its answers are written. */
  private readonly shadowRuns: (() => void)[] = [];

  constructor(
    private readonly call: ServerDuplexStream<unknown, PredictStreamResponse>,
    private readonly options: PredictStreamOptions,
  ) {}

  start(): void {
    const { call } = this;
    call.on('data', (message: unknown) => {
      this.receive(message);
    });
    call.on('end', () => {
      this.inputEnded = true;
      this.finishIfDone();
    });
    call.on('drain', () => {
      this.undrained = false;
      this.regulate();
    });
    // Cancelled by the client, past its deadline, or reset: nothing more is scored or recorded (admission gives the rows back).
    call.on('cancelled', () => {
      this.close();
    });
    call.on('error', () => {
      this.close();
    });
  }

  private receive(message: unknown): void {
    if (this.closed) return;
    const index = this.received++;
    const hold = message instanceof CheckedRequest ? message.admitted : undefined;
    const decoded = message instanceof CheckedRequest ? (message.decode() as PredictStreamRequest | MalformedRequestError) : message;
    let request: PredictStreamRequest | undefined;
    let error: Status | undefined;
    if (decoded instanceof MalformedRequestError) {
      error = this.statusOf(decoded);
    } else {
      request = decoded as PredictStreamRequest;
      try {
        checkBatchSize(request.transactions.length, MAX_TRANSACTIONS_PER_STREAM_REQUEST);
      } catch (refusal) {
        error = this.statusOf(refusal);
        request = undefined;
      }
    }
    const rows = message instanceof CheckedRequest ? message.rows : 0;
    this.queue.push({ index, request, error, hold, rows });
    this.inFlight += rows;
    this.regulate();
    this.scoreSoon();
  }

  /** Stops reading while too many transactions are in flight or the answers are not drained; reads again once neither holds. */
  private regulate(): void {
    const stop = this.undrained || this.inFlight >= this.options.maxRowsInFlight;
    if (stop && !this.paused) {
      this.paused = true;
      this.call.pause();
    } else if (!stop && this.paused) {
      this.paused = false;
      this.call.resume();
    }
  }

  /** Scores what is queued on a later turn of the loop, so the requests that arrive together are scored together. */
  private scoreSoon(): void {
    if (this.scoring || this.closed || this.queue.length === 0) return;
    this.scoring = true;
    setImmediate(() => {
      void this.scoreQueued();
    });
  }

  private async scoreQueued(): Promise<void> {
    const batch = this.queue.splice(0, this.queue.length);
    try {
      const answers = await this.answer(batch);
      for (let position = 0; position < batch.length && !this.closed; position++) this.write(batch[position] as Received, answers[position] as PredictStreamResponse);
    } catch (error) {
      this.fail(error);
    } finally {
      this.scoring = false;
      // The answers are written (or the stream failed): now the shadows run, and the calls are recorded.
      for (const start of this.shadowRuns.splice(0)) start();
    }
    this.scoreSoon();
    this.finishIfDone();
  }

  /** The answers of a micro-batch, in request order. */
  private async answer(batch: readonly Received[]): Promise<PredictStreamResponse[]> {
    const answers: PredictStreamResponse[] = batch.map((received) => ({
      requestIndex: BigInt(received.index),
      results: [],
      model: undefined,
      threshold: 0,
      error: received.error,
    }));
    // Each task's requests are scored together, with that task's model held for them.
    for (const task of TASKS) {
      if (!batch.some((received) => received.request !== undefined && taskOf(received.request) === task)) continue;
      await this.options.withModel(task, (model) => this.answerTask(task, model, batch, answers));
    }
    return answers;
  }

  private async answerTask(task: ModelTask, model: ServingModel, batch: readonly Received[], answers: readonly PredictStreamResponse[]): Promise<void> {
    {
      const items: Item[] = [];
      batch.forEach((received, position) => {
        const { request } = received;
        const answer = answers[position] as PredictStreamResponse;
        if (request === undefined || taskOf(request) !== task) return;
        answer.model = model.identity;
        answer.threshold = model.threshold ?? 0;
        request.transactions.forEach((transaction, index) => {
          const violations = new ViolationList().at(index);
          validateTransaction(transaction, model, violations);
          answer.results.push({ transactionId: transaction.transactionId ?? 0n, prediction: undefined, scenario: undefined, error: undefined });
          if (violations.items.length > 0) (answer.results[index] as PredictStreamResult).error = this.statusOf(new InvalidArgumentError(violations.items));
          else items.push({ transaction, results: answer.results, position: index, explain: request.explain });
        });
      });
      if (items.length > 0) await this.options.batchLane.run(items.length, () => this.scoreItems(model, items));
    }
  }

  /**
   * Scores the valid transactions of a micro-batch in one run. When the
   * history refuses some of them (late, conflicting repeat), nothing of the
   * run was recorded: each is then scored alone, in order, so only those get
   * an error result.
   */
  private async scoreItems(model: ServingModel, items: readonly Item[]): Promise<void> {
    // The caller may have gone while the micro-batch waited for the lane: nothing is recorded for it then.
    if (this.closed || this.call.cancelled) return;
    const { history, decisions } = this.options;
    const keepFeatures = decisions?.needsFeatures === true;
    const transactions = items.map((item) => item.transaction);
    const explain = items.some((item) => item.explain);
    const startedAt = performance.now();
    let scored: Scored;
    const shadow = this.options.shadows?.begin(model, transactions.length, keepFeatures);
    try {
      scored = await scoreTransactions(model, transactions, { history, batch: true, explain, keepFeatures, sliceRows: this.options.batchLane.maxRows, shadow });
    } catch (error) {
      shadow?.abandon();
      if (!isItemError(error)) throw error;
      for (const item of items) {
        if (this.isClosed()) return;
        const shadowAlone = this.options.shadows?.begin(model, 1, keepFeatures);
        try {
          const alone = await scoreTransactions(model, [item.transaction], { history, batch: false, explain: item.explain, keepFeatures, shadow: shadowAlone });
          this.scored(alone, [item.transaction], startedAt, shadowAlone);
          this.setPrediction(item, alone, [item.transaction], 0);
        } catch (itemError) {
          shadowAlone?.abandon();
          if (!isItemError(itemError)) throw itemError;
          item.results[item.position] = {
            transactionId: item.transaction.transactionId ?? 0n,
            prediction: undefined,
            scenario: undefined,
            error: this.statusOf(inRequest(itemError, item.position)),
          };
        }
      }
      return;
    }
    this.scored(scored, transactions, startedAt, shadow);
    items.forEach((item, index) => {
      this.setPrediction(item, scored, transactions, index);
    });
  }

  /** Counts scored transactions, and hands them to the decision log (references only; it builds its records later). */
  private scored(scored: Scored, transactions: readonly Transaction[], startedAt: number, shadow: ShadowRun | undefined): void {
    const { predictions, decisions } = this.options;
    predictions.record(scored);
    if (shadow === undefined) {
      if (decisions !== undefined) recordDecisions(decisions, this.call.getPath(), scored, transactions, startedAt);
      return;
    }
    // The call as answered now; the shadow runs and the recorders take it once the answers are written.
    const answered = decisions && scoredCallOf(this.call.getPath(), scored, transactions, startedAt);
    this.shadowRuns.push(() => {
      shadow.afterAnswer(transactions, answered, decisions, undefined);
    });
  }

  private setPrediction(item: Item, scored: Scored, transactions: readonly Transaction[], index: number): void {
    const prediction = predictionOf(scored, transactions, index);
    if (!item.explain) prediction.features = {};
    const result = item.results[item.position] as PredictStreamResult;
    if (scored.model.task === 'binary') result.prediction = prediction;
    else result.scenario = prediction;
  }

  /** Hands over one answer; its rows count as in flight until it is written. */
  private write(received: Received, answer: PredictStreamResponse): void {
    received.hold?.answered();
    const accepted = this.call.write(answer, () => {
      received.hold?.release();
      this.inFlight -= received.rows;
      this.regulate();
    });
    if (!accepted) {
      this.undrained = true;
      this.regulate();
    }
  }

  /** Ends the stream with OK once the client has sent everything and every request is answered (grpc-js writes the status after the answers). */
  private finishIfDone(): void {
    if (this.closed || !this.inputEnded || this.scoring || this.queue.length > 0) return;
    this.closed = true;
    this.call.end();
  }

  /** A problem of the whole stream: it ends with that status, and nothing queued is scored. */
  private fail(error: unknown): void {
    if (this.closed) return;
    this.close();
    this.call.emit('error', toCallError(error, this.options.logger, this.options.method));
  }

  /** Read again after an await: the stream may have ended meanwhile. */
  private isClosed(): boolean {
    return this.closed;
  }

  private close(): void {
    this.closed = true;
    this.queue.length = 0;
  }

  /** The google.rpc.Status a unary call would have ended with, for an error result. */
  private statusOf(error: unknown): Status {
    const { code, details, metadata } = toCallError(error, this.options.logger, this.options.method);
    const encoded = metadata?.get(STATUS_DETAILS_KEY)[0];
    return encoded instanceof Buffer ? Status.decode(encoded) : { code, message: details, details: [] };
  }
}

const TASKS: readonly ModelTask[] = ['binary', 'multiclass'];

/** The model task a request asks for: the binary one unless it names the multiclass one. */
function taskOf(request: PredictStreamRequest): ModelTask {
  return request.task === ProtoModelTask.MODEL_TASK_MULTICLASS ? 'multiclass' : 'binary';
}

/** Errors that concern one transaction and leave the others (and the stream) alone. */
function isItemError(error: unknown): error is InvalidArgumentError | AlreadyRecordedError {
  return error instanceof InvalidArgumentError || error instanceof AlreadyRecordedError;
}

/** The error of a transaction scored alone (paths `transaction.…`), with the paths of its request (`transactions[i].…`). */
function inRequest(error: InvalidArgumentError | AlreadyRecordedError, position: number): InvalidArgumentError | AlreadyRecordedError {
  const violations: FieldViolation[] = error.violations.map(({ field, description }) => ({
    field: field === 'transaction' || field.startsWith('transaction.') ? `transactions[${position}]${field.slice('transaction'.length)}` : field,
    description,
  }));
  return error instanceof AlreadyRecordedError ? new AlreadyRecordedError(violations) : new InvalidArgumentError(violations);
}

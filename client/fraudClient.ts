import { Metadata, status, type ChannelCredentials, type ChannelOptions, type Interceptor, type ServiceError } from '@grpc/grpc-js';
import {
  FraudServiceClient,
  Outcome,
  type GetModelInfoResponse,
  GetModelQualityRequest,
  type GetModelQualityResponse,
  type OutcomeResult,
  type ReportOutcomeBatchResponse,
  type ReportOutcomeResponse,
  type TransactionOutcome,
  type PredictBatchResponse,
  type PredictResponse,
  type PredictScenarioBatchResponse,
  type PredictScenarioResponse,
} from '../src/gen/fraud/v1/fraud_service.js';
import { HealthCheckResponse_ServingStatus, HealthClient, type HealthCheckResponse } from '../src/gen/grpc/health/v1/health.js';
import { BadRequest, ErrorInfo, RetryInfo } from '../src/gen/google/rpc/error_details.js';
import { Status } from '../src/gen/google/rpc/status.js';
import { bearerTokenInterceptor, channelCredentialsFor, serverNameOptions, type ClientTlsOptions } from './channelSecurity.js';
import { retryPolicy, serviceConfigOptions, type RetryPolicy } from './serviceConfig.js';
import { predictStream, type PredictStreamOptions, type StreamedPrediction } from './predictStream.js';
import { toTransaction } from './transactionMessage.js';

export type { RetryPolicy } from './serviceConfig.js';

/** A transaction as callers write it: ids and times as numbers or bigints. */
export interface TransactionInput {
  readonly transactionId: number | bigint;
  readonly customerId: number | bigint;
  readonly terminalId: number | bigint;
  readonly txAmount: number;
  readonly txTimeSeconds?: number | bigint;
  readonly txTimeDays?: number | bigint;
  readonly txDatetime?: Date;
  readonly features?: Readonly<Record<string, number>>;
}

export interface FraudClientOptions {
  /**
   * host:port of the service, or any gRPC target (`dns:///fraud-scoring-grpc:50051`,
   * `ipv4:10.0.0.1:50051,10.0.0.2:50051`). Calls are spread round-robin over
   * every address the name resolves to: point it at the chart's headless
   * Service (`<release>-fraud-scoring-grpc`) so each replica gets its share.
   */
  readonly address: string;
  /** Channel credentials of your own; otherwise those of `tls` (plaintext without it). */
  readonly credentials?: ChannelCredentials;
  /** TLS, and a client certificate for mutual TLS; `{}`: TLS with the system's roots. */
  readonly tls?: ClientTlsOptions;
  /** Bearer token sent with every call (`authorization: Bearer …`). Without `tls` it crosses the network readable. */
  readonly token?: string;
  /** Deadline of each call, its retries included. Scoring answers in about a millisecond; the default leaves room for batches. */
  readonly deadlineMs?: number;
  /** The retryPolicy of the channel's service config; the published one (deploy/service-config.json) by default. */
  readonly retry?: Partial<RetryPolicy>;
  readonly channelOptions?: ChannelOptions;
}

export interface CallOptions {
  readonly deadlineMs?: number;
}

export interface ScoreOptions extends CallOptions {
  /** Ask for the feature values the model saw (`features` in each answer). */
  readonly explain?: boolean;
}

/** A confirmed outcome of a scored transaction, as callers write it. */
export interface OutcomeInput {
  readonly transactionId: number | bigint;
  readonly outcome: 'fraud' | 'legitimate';
  /** When the outcome became known; the service's clock when neither this nor knownAtSeconds is given. */
  readonly knownAt?: Date;
  /** The same instant in seconds since 2018-04-01T00:00:00Z (the clock of tx_time_seconds). */
  readonly knownAtSeconds?: number | bigint;
  /** A correction of the outcome recorded for the transaction (TransactionOutcome.supersedes). */
  readonly supersedes?: boolean;
}

/** One field the service found wrong, from the google.rpc.BadRequest of an INVALID_ARGUMENT. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** A failed call, with its gRPC code and, for INVALID_ARGUMENT, the field violations. */
export class FraudCallError extends Error {
  override readonly name = 'FraudCallError';

  constructor(
    readonly code: status,
    readonly details: string,
    readonly fieldViolations: readonly FieldViolation[],
    /** The google.rpc.ErrorInfo reason, when the service gave one (e.g. TRANSACTION_ALREADY_RECORDED with ALREADY_EXISTS). */
    readonly reason?: string,
  ) {
    super(`${status[code]}: ${details}`);
  }
}

export type HealthStatus = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN' | 'SERVICE_UNKNOWN';

export interface ScoreAllOptions {
  /** Transactions per call (at most the service's limit, 10000 by default). */
  readonly batchSize?: number;
  /** Batch calls in flight at once. */
  readonly concurrency?: number;
  /** Called after each batch with the number of transactions scored so far. */
  readonly onProgress?: (scored: number) => void;
}

const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
const BAD_REQUEST_TYPE_URL = 'type.googleapis.com/google.rpc.BadRequest';
const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';
const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';

/**
 * Typed client of fraud.v1.FraudService: promises, a deadline on every call,
 * round_robin and retries as the published service config sets them (see
 * serviceConfig.ts: grpc-js retries UNAVAILABLE with exponential backoff and
 * jitter, and busy answers after the delay they name), and a batching helper.
 */
export class FraudClient {
  private readonly stub: FraudServiceClient;
  private readonly health: HealthClient;
  private readonly deadlineMs: number;

  constructor(options: FraudClientOptions) {
    const channelCredentials = options.credentials ?? channelCredentialsFor(options.tls);
    const channelOptions: ChannelOptions = { ...serviceConfigOptions(retryPolicy(options.retry)), ...serverNameOptions(options.tls), ...options.channelOptions };
    if (options.token !== undefined) channelOptions.interceptors = [...((channelOptions.interceptors as Interceptor[] | undefined) ?? []), bearerTokenInterceptor(options.token)];
    this.stub = new FraudServiceClient(options.address, channelCredentials, channelOptions);
    this.health = new HealthClient(options.address, channelCredentials, channelOptions);
    this.deadlineMs = options.deadlineMs ?? 5_000;
  }

  predict(transaction: TransactionInput, options?: ScoreOptions): Promise<PredictResponse> {
    const request = { transaction: toTransaction(transaction), explain: options?.explain ?? false };
    return this.call(options, (metadata, deadline, done) => this.stub.predict(request, metadata, { deadline }, done));
  }

  predictScenario(transaction: TransactionInput, options?: ScoreOptions): Promise<PredictScenarioResponse> {
    const request = { transaction: toTransaction(transaction), explain: options?.explain ?? false };
    return this.call(options, (metadata, deadline, done) => this.stub.predictScenario(request, metadata, { deadline }, done));
  }

  predictBatch(transactions: readonly TransactionInput[], options?: ScoreOptions): Promise<PredictBatchResponse> {
    const request = { transactions: transactions.map(toTransaction), explain: options?.explain ?? false };
    return this.call(options, (metadata, deadline, done) => this.stub.predictBatch(request, metadata, { deadline }, done));
  }

  predictScenarioBatch(transactions: readonly TransactionInput[], options?: ScoreOptions): Promise<PredictScenarioBatchResponse> {
    const request = { transactions: transactions.map(toTransaction), explain: options?.explain ?? false };
    return this.call(options, (metadata, deadline, done) => this.stub.predictScenarioBatch(request, metadata, { deadline }, done));
  }

  /** Reports one confirmed outcome; the result says whether it was applied, a duplicate, a conflict or unknown. */
  async reportOutcome(outcome: OutcomeInput, options?: CallOptions): Promise<OutcomeResult> {
    const request = { outcome: toOutcome(outcome) };
    const response = await this.call<ReportOutcomeResponse>(options, (metadata, deadline, done) => this.stub.reportOutcome(request, metadata, { deadline }, done));
    if (response.result === undefined) throw new FraudCallError(status.INTERNAL, 'the service answered without a result', []);
    return response.result;
  }

  /** Reports outcomes in one call (at most the service's batch limit); one result each, in order. */
  async reportOutcomes(outcomes: readonly OutcomeInput[], options?: CallOptions): Promise<OutcomeResult[]> {
    const request = { outcomes: outcomes.map(toOutcome) };
    const response = await this.call<ReportOutcomeBatchResponse>(options, (metadata, deadline, done) => this.stub.reportOutcomeBatch(request, metadata, { deadline }, done));
    return response.results;
  }

  getModelInfo(options?: CallOptions): Promise<GetModelInfoResponse> {
    return this.call(options, (metadata, deadline, done) => this.stub.getModelInfo({}, metadata, { deadline }, done));
  }

  /**
   * Live quality per model revision and window of event days, from the
   * outcomes joined to each model's scores (see qualityStatistics.ts for the
   * metrics and intervals the CLI derives from it).
   */
  getModelQuality(request: Partial<GetModelQualityRequest> = {}, options?: CallOptions): Promise<GetModelQualityResponse> {
    const full = GetModelQualityRequest.fromPartial(request);
    return this.call(options, (metadata, deadline, done) => this.stub.getModelQuality(full, metadata, { deadline }, done));
  }

  /** Health of the whole server (`service` "") or of one service, e.g. "fraud.v1.FraudService". */
  async checkHealth(service = '', options?: CallOptions): Promise<HealthStatus> {
    const response = await this.call<HealthCheckResponse>(options, (metadata, deadline, done) => this.health.check({ service }, metadata, { deadline }, done));
    return HealthCheckResponse_ServingStatus[response.status] as HealthStatus;
  }

  /**
   * Scores any number of transactions in batches, several calls in flight,
   * and yields the batch answers in input order.
   */
  async *scoreAll(
    task: 'binary' | 'scenario',
    transactions: Iterable<TransactionInput> | AsyncIterable<TransactionInput>,
    options: ScoreAllOptions = {},
  ): AsyncGenerator<PredictBatchResponse | PredictScenarioBatchResponse> {
    const batchSize = options.batchSize ?? 1_000;
    const concurrency = Math.max(1, options.concurrency ?? 4);
    const send = (batch: TransactionInput[]): Promise<PredictBatchResponse | PredictScenarioBatchResponse> =>
      task === 'binary' ? this.predictBatch(batch) : this.predictScenarioBatch(batch);
    const inFlight: Promise<PredictBatchResponse | PredictScenarioBatchResponse>[] = [];
    let scored = 0;
    let batch: TransactionInput[] = [];
    const start = (transactionsOfBatch: TransactionInput[]): void => {
      const answer = send(transactionsOfBatch);
      // Answers are awaited in order; a later batch may fail first, or never be
      // awaited if the caller stops early: that must not be an unhandled rejection.
      answer.catch(() => undefined);
      inFlight.push(answer);
    };
    const settleOldest = async (): Promise<PredictBatchResponse | PredictScenarioBatchResponse> => {
      const answer = await (inFlight.shift() as Promise<PredictBatchResponse | PredictScenarioBatchResponse>);
      scored += answer.predictions.length;
      options.onProgress?.(scored);
      return answer;
    };
    for await (const transaction of transactions) {
      batch.push(transaction);
      if (batch.length < batchSize) continue;
      start(batch);
      batch = [];
      if (inFlight.length >= concurrency) yield await settleOldest();
    }
    if (batch.length > 0) start(batch);
    while (inFlight.length > 0) yield await settleOldest();
  }

  /** Scores many transactions on one PredictStream call, yielding each answer as it comes (see predictStream.ts). */
  predictStream(transactions: Iterable<TransactionInput> | AsyncIterable<TransactionInput>, options?: PredictStreamOptions): AsyncGenerator<StreamedPrediction> {
    return predictStream(this.stub, transactions, options);
  }

  close(): void {
    this.stub.close();
    this.health.close();
  }

  /** One call with its deadline; the channel retries it as its service config says. */
  private async call<Response>(
    options: CallOptions | undefined,
    invoke: (metadata: Metadata, deadline: Date, done: (error: ServiceError | null, response: Response) => void) => void,
  ): Promise<Response> {
    const deadline = new Date(Date.now() + (options?.deadlineMs ?? this.deadlineMs));
    return new Promise<Response>((resolveCall, rejectCall) => {
      invoke(new Metadata(), deadline, (error, response) => {
        if (error) rejectCall(toCallError(error));
        else resolveCall(response);
      });
    });
  }
}

/** The field violations carried by a failed call's status details. */
export function fieldViolationsOf(metadata: Metadata | undefined): FieldViolation[] {
  const raw = metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!(raw instanceof Buffer)) return [];
  return Status.decode(raw)
    .details.filter((detail) => detail.typeUrl === BAD_REQUEST_TYPE_URL)
    .flatMap((detail) => BadRequest.decode(detail.value).fieldViolations)
    .map(({ field, description }) => ({ field, description }));
}

/** The delay a google.rpc.RetryInfo in a failed call's status details asks for, in milliseconds, if there is one. */
export function retryDelayOf(metadata: Metadata | undefined): number | undefined {
  const raw = metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!(raw instanceof Buffer)) return undefined;
  const detail = Status.decode(raw).details.find((candidate) => candidate.typeUrl === RETRY_INFO_TYPE_URL);
  if (detail === undefined) return undefined;
  const delay = RetryInfo.decode(detail.value).retryDelay;
  return delay === undefined ? 0 : Number(delay.seconds) * 1000 + Math.round(delay.nanos / 1e6);
}

/** The reason of a google.rpc.ErrorInfo in a failed call's status details, if there is one. */
export function errorReasonOf(metadata: Metadata | undefined): string | undefined {
  const raw = metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!(raw instanceof Buffer)) return undefined;
  const detail = Status.decode(raw).details.find((candidate) => candidate.typeUrl === ERROR_INFO_TYPE_URL);
  return detail === undefined ? undefined : ErrorInfo.decode(detail.value).reason;
}

function toCallError(error: ServiceError): FraudCallError {
  return new FraudCallError(error.code, error.details, fieldViolationsOf(error.metadata), errorReasonOf(error.metadata));
}

function toOutcome(input: OutcomeInput): TransactionOutcome {
  return {
    transactionId: BigInt(input.transactionId),
    outcome: input.outcome === 'fraud' ? Outcome.OUTCOME_FRAUD : Outcome.OUTCOME_LEGITIMATE,
    knownAt: input.knownAt,
    knownAtSeconds: input.knownAtSeconds === undefined ? undefined : BigInt(input.knownAtSeconds),
    supersedes: input.supersedes === true ? true : undefined,
  };
}

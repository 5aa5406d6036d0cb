import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { BadRequest, ErrorInfo, RetryInfo, type BadRequest_FieldViolation } from '../gen/google/rpc/error_details.js';
import { Status } from '../gen/google/rpc/status.js';
import type { Logger } from '../observability/logger.js';
import { StateUnavailableError } from '../state/stateStore.js';

/** One problem with one request field; `field` is its path, e.g. `transactions[3].tx_amount` ("" for the whole request). */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** The request is malformed: INVALID_ARGUMENT with a google.rpc.BadRequest. */
export class InvalidArgumentError extends Error {
  override readonly name: string = 'InvalidArgumentError';

  constructor(readonly violations: readonly FieldViolation[]) {
    const first = violations[0];
    const more = violations.length > 1 ? ` (and ${violations.length - 1} more)` : '';
    super(first === undefined ? 'invalid request' : `${first.field === '' ? '' : `${first.field}: `}${first.description}${more}`);
  }
}

/**
 * The request's bytes are not a valid message of the method's input type
 * (not protobuf, wrong wire types, out-of-range well-known types). It reaches
 * the handler in place of the request (see requestDecoding.ts).
 */
export class MalformedRequestError extends InvalidArgumentError {
  override readonly name: string = 'MalformedRequestError';

  constructor(
    readonly messageType: string,
    violations: readonly FieldViolation[],
  ) {
    super(violations);
  }
}

/**
 * A transaction id is already recorded (same customer and terminal) with
 * other fields (amount, event time): the call is not a retry, and nothing of
 * it was recorded. ALREADY_EXISTS, not FAILED_PRECONDITION: what stands in
 * the way is the very thing the call tries to create (a transaction with
 * that id), and no change of the service's state can make the call succeed;
 * the client must either repeat the recorded fields (a true retry) or give
 * the new transaction its own id. FAILED_PRECONDITION says the system is not
 * yet in the state the call needs, which invites a wait-and-retry that can
 * never work here. The details carry a google.rpc.BadRequest whose field
 * violations name each differing field with its recorded value, and a
 * google.rpc.ErrorInfo with reason TRANSACTION_ALREADY_RECORDED.
 */
export class AlreadyRecordedError extends Error {
  override readonly name = 'AlreadyRecordedError';

  constructor(readonly violations: readonly FieldViolation[]) {
    const first = violations[0];
    const more = violations.length > 1 ? ` (and ${violations.length - 1} more)` : '';
    super(first === undefined ? 'transaction already recorded with other fields' : `${first.field}: ${first.description}${more}`);
  }
}

/** ErrorInfo of AlreadyRecordedError: a reason clients can branch on without reading the message. */
export const ALREADY_RECORDED_REASON = 'TRANSACTION_ALREADY_RECORDED';
const ERROR_DOMAIN = 'fraud.v1.FraudService';

/** No model serves the task yet: UNAVAILABLE, which clients retry. */
export class ModelUnavailableError extends Error {
  override readonly name = 'ModelUnavailableError';
}

/** The call cannot work in this configuration (e.g. outcomes without a state store): FAILED_PRECONDITION. */
export class FailedPreconditionError extends Error {
  override readonly name = 'FailedPreconditionError';
}

/** The caller went away (cancelled, deadline passed) before the work started: nothing to answer. */
export class CallCancelledError extends Error {
  override readonly name = 'CallCancelledError';
}

/** Too many transactions in flight to take this call now: RESOURCE_EXHAUSTED with a google.rpc.RetryInfo. */
export class RowsRefusedError extends Error {
  override readonly name = 'RowsRefusedError';

  constructor(
    message: string,
    readonly retryDelayMs: number,
  ) {
    super(message);
  }
}

const BAD_REQUEST_TYPE_URL = 'type.googleapis.com/google.rpc.BadRequest';
const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';
const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';
const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
/**
 * The trailer in which gRPC's retry design (gRFC A6) has the server name the
 * delay before a retry: clients with a retryPolicy in their service config
 * wait exactly that long (instead of their own backoff) for a status their
 * policy retries. google.rpc.RetryInfo says the same to clients that read
 * status details.
 */
export const RETRY_PUSHBACK_KEY = 'grpc-retry-pushback-ms';

/**
 * Status details travel in HTTP/2 trailers, and clients refuse big ones:
 * C-core's default limit on all metadata is 8 KiB. The field violations are
 * cut to this many bytes (base64 in the trailer adds a third) and the message
 * to MAX_MESSAGE_CHARACTERS, so the whole trailer stays well under the limit.
 */
export const MAX_VIOLATION_BYTES = 3072;
export const MAX_MESSAGE_CHARACTERS = 300;

export type CallError = Partial<ServiceError> & { code: status; details: string };

/**
 * The one place errors become gRPC statuses. Expected errors carry their own
 * message; anything else is INTERNAL with a generic message, and the detail
 * (with its stack) goes to the log, never to the caller.
 */
export function toCallError(error: unknown, logger: Logger, method: string): CallError {
  if (error instanceof InvalidArgumentError) {
    if (error instanceof MalformedRequestError) {
      logger.debug({ method, messageType: error.messageType, violations: error.violations }, 'undecodable request refused');
    }
    const message = capped(error.message);
    const badRequest = BadRequest.encode({ fieldViolations: cappedViolations(error.violations) }).finish();
    return withDetails(status.INVALID_ARGUMENT, message, [{ typeUrl: BAD_REQUEST_TYPE_URL, value: badRequest }]);
  }
  if (error instanceof AlreadyRecordedError) {
    const badRequest = BadRequest.encode({ fieldViolations: cappedViolations(error.violations) }).finish();
    const errorInfo = ErrorInfo.encode({ reason: ALREADY_RECORDED_REASON, domain: ERROR_DOMAIN, metadata: {} }).finish();
    return withDetails(status.ALREADY_EXISTS, capped(error.message), [
      { typeUrl: BAD_REQUEST_TYPE_URL, value: badRequest },
      { typeUrl: ERROR_INFO_TYPE_URL, value: errorInfo },
    ]);
  }
  if (error instanceof RowsRefusedError) {
    const delayMs = error.retryDelayMs;
    const retryInfo = RetryInfo.encode({ retryDelay: { seconds: BigInt(Math.floor(delayMs / 1000)), nanos: (delayMs % 1000) * 1_000_000 } }).finish();
    const refusal = withDetails(status.RESOURCE_EXHAUSTED, error.message, [{ typeUrl: RETRY_INFO_TYPE_URL, value: retryInfo }]);
    refusal.metadata?.set(RETRY_PUSHBACK_KEY, String(Math.round(delayMs)));
    return refusal;
  }
  if (error instanceof ModelUnavailableError) {
    return { code: status.UNAVAILABLE, details: error.message };
  }
  if (error instanceof StateUnavailableError) {
    // Not logged per call: the store logs each outage once, and a metric counts the calls.
    return { code: status.UNAVAILABLE, details: `the history store is unavailable; retry with backoff (${error.message})` };
  }
  if (error instanceof FailedPreconditionError) {
    return { code: status.FAILED_PRECONDITION, details: error.message };
  }
  if (error instanceof CallCancelledError) {
    return { code: status.CANCELLED, details: error.message };
  }
  logger.error({ err: error, method }, 'call failed unexpectedly');
  return { code: status.INTERNAL, details: 'internal error; the service log has the details' };
}

/** A status with its google.rpc details, in the trailer every gRPC client library reads. */
function withDetails(code: status, message: string, details: readonly { typeUrl: string; value: Uint8Array }[]): CallError {
  const encoded = Status.encode({ code, message, details: details.map(({ typeUrl, value }) => ({ typeUrl, value: Buffer.from(value) })) }).finish();
  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(encoded));
  return { code, details: message, metadata };
}

function capped(message: string): string {
  if (message.length <= MAX_MESSAGE_CHARACTERS) return message;
  return `${Array.from(message).slice(0, MAX_MESSAGE_CHARACTERS).join('')}…`;
}

/**
 * As many violations as fit in MAX_VIOLATION_BYTES, in order; when some are
 * left out, a last entry (field "") says how many.
 */
function cappedViolations(violations: readonly FieldViolation[]): BadRequest_FieldViolation[] {
  const kept: BadRequest_FieldViolation[] = [];
  let bytes = 0;
  for (const violation of violations) {
    // Encoded size of a FieldViolation: both strings plus tags and lengths (generously 8 bytes).
    const size = Buffer.byteLength(violation.field) + Buffer.byteLength(violation.description) + 8;
    if (bytes + size > MAX_VIOLATION_BYTES) break;
    bytes += size;
    kept.push({ field: violation.field, description: violation.description, reason: '', localizedMessage: undefined });
  }
  const left = violations.length - kept.length;
  if (left > 0) kept.push({ field: '', description: `${left} more violation${left === 1 ? '' : 's'} not listed (the answer is capped at ${MAX_VIOLATION_BYTES} bytes)`, reason: '', localizedMessage: undefined });
  return kept;
}

import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { BadRequest } from '../gen/google/rpc/error_details.js';
import { Status } from '../gen/google/rpc/status.js';
import type { Logger } from '../observability/logger.js';
import { StateUnavailableError } from '../state/stateStore.js';

/** One problem with one request field; `field` is its path, e.g. `transactions[3].tx_amount`. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** The request is malformed: INVALID_ARGUMENT with a google.rpc.BadRequest. */
export class InvalidArgumentError extends Error {
  override readonly name = 'InvalidArgumentError';

  constructor(readonly violations: readonly FieldViolation[]) {
    const first = violations[0];
    const more = violations.length > 1 ? ` (and ${violations.length - 1} more)` : '';
    super(first === undefined ? 'invalid request' : `${first.field}: ${first.description}${more}`);
  }
}

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

const BAD_REQUEST_TYPE_URL = 'type.googleapis.com/google.rpc.BadRequest';
const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

export type CallError = Partial<ServiceError> & { code: status; details: string };

/**
 * The one place errors become gRPC statuses. Expected errors carry their own
 * message; anything else is INTERNAL with a generic message, and the detail
 * (with its stack) goes to the log, never to the caller.
 */
export function toCallError(error: unknown, logger: Logger, method: string): CallError {
  if (error instanceof InvalidArgumentError) {
    const badRequest = BadRequest.encode({
      fieldViolations: error.violations.map((violation) => ({ ...violation, reason: '', localizedMessage: undefined })),
    }).finish();
    const details = Status.encode({
      code: status.INVALID_ARGUMENT,
      message: error.message,
      details: [{ typeUrl: BAD_REQUEST_TYPE_URL, value: Buffer.from(badRequest) }],
    }).finish();
    const metadata = new Metadata();
    metadata.set(STATUS_DETAILS_KEY, Buffer.from(details));
    return { code: status.INVALID_ARGUMENT, details: error.message, metadata };
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

import type { handleUnaryCall, ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { MalformedRequestError, toCallError } from './apiErrors.js';
import { CheckedRequest } from './requestDecoding.js';

/**
 * Adapts a promise-returning handler to grpc-js and maps errors in one place.
 * Requests arrive checked but not decoded (a CheckedRequest, see
 * requestDecoding.ts) and are decoded here; one that could not be decoded is
 * a MalformedRequestError, answered INVALID_ARGUMENT before the handler. Calls are counted and timed by the CallMetrics interceptor, which
 * also sees the calls that end without an answer.
 */
export function unaryCall<Request, Response>(
  method: string,
  metrics: Metrics,
  logger: Logger,
  handler: (request: Request, call: ServerUnaryCall<Request, Response>) => Promise<Response>,
): handleUnaryCall<Request | CheckedRequest<Request> | MalformedRequestError, Response> {
  const undecodable = metrics.undecodableRequests.labels(method);

  return (call, callback) => {
    let answer: Promise<Response>;
    // Decoded here, once admitted; the call itself keeps only the checked bytes.
    const request = call.request instanceof CheckedRequest ? call.request.decode() : call.request;
    if (request instanceof MalformedRequestError) {
      undecodable.inc();
      answer = Promise.reject(request);
    } else {
      try {
        answer = handler(request, call as ServerUnaryCall<Request, Response>);
      } catch (error) {
        // A handler that throws before its first await still gets mapped.
        answer = Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
    answer.then(
      (response) => {
        callback(null, response);
      },
      (error: unknown) => {
        callback(toCallError(error, logger, method));
      },
    );
  };
}

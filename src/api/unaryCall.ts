import type { handleUnaryCall, ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { ATTR_ROWS, endSpan, SPAN_BATCH_WAIT, SPAN_DECODE, traceOf } from '../observability/tracing.js';
import { CallCancelledError, MalformedRequestError, toCallError } from './apiErrors.js';
import type { BatchLane } from './batchLane.js';
import { CheckedRequest } from './requestDecoding.js';

/**
 * Adapts a promise-returning handler to grpc-js and maps errors in one place.
 * Requests arrive checked but not decoded (a CheckedRequest, see
 * requestDecoding.ts) and are decoded here; one that could not be decoded is
 * a MalformedRequestError, answered INVALID_ARGUMENT before the handler. Calls are counted and timed by the CallMetrics interceptor, which
 * also sees the calls that end without an answer.
 *
 * With a `lane` (batch methods), the call waits for its turn in it before its
 * request is decoded, and holds it until its answer is built: a batch waiting
 * for its turn keeps only its request's bytes, not thousands of decoded
 * objects, and a batch whose client went away meanwhile is never decoded.
 */
export function unaryCall<Request, Response>(
  method: string,
  metrics: Metrics,
  logger: Logger,
  handler: (request: Request, call: ServerUnaryCall<Request, Response>) => Promise<Response>,
  lane?: BatchLane,
): handleUnaryCall<Request | CheckedRequest<Request> | MalformedRequestError, Response> {
  const undecodable = metrics.undecodableRequests.labels(method);

  return (call, callback) => {
    const trace = traceOf(call);
    const rows = call.request instanceof CheckedRequest ? call.request.rows : 0;
    // A batch's wait for its turn in the lane is a span of its own.
    const waitSpan = lane === undefined ? undefined : trace?.start(SPAN_BATCH_WAIT, { [ATTR_ROWS]: rows });
    const run = (): Promise<Response> => {
      waitSpan?.end();
      if (lane !== undefined && call.cancelled) return Promise.reject(new CallCancelledError('the call was cancelled while it waited for its turn'));
      // Decoded here, once admitted; the call itself keeps only the checked bytes.
      // A request the wire check refused arrives as a MalformedRequestError: its decode span is an error too.
      const decodeSpan = trace?.start(SPAN_DECODE, call.request instanceof CheckedRequest ? { [ATTR_ROWS]: rows } : undefined);
      const request = call.request instanceof CheckedRequest ? call.request.decode() : call.request;
      if (decodeSpan !== undefined) endSpan(decodeSpan, request instanceof MalformedRequestError ? request : undefined);
      if (request instanceof MalformedRequestError) {
        undecodable.inc();
        return Promise.reject(request);
      }
      try {
        return handler(request, call as ServerUnaryCall<Request, Response>);
      } catch (error) {
        // A handler that throws before its first await still gets mapped.
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    };
    const answer = lane === undefined ? run() : lane.run(rows, run);
    answer.then(
      (response) => {
        callback(null, response);
      },
      (error: unknown) => {
        // The log lines of a traced call carry its trace and span ids.
        callback(toCallError(error, trace === undefined ? logger : logger.child(trace.logFields), method));
      },
    );
  };
}

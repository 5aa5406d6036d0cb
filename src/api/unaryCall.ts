import { status, type handleUnaryCall, type ServerUnaryCall } from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { toCallError } from './apiErrors.js';

const STATUS_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(status).filter(([, code]) => typeof code === 'number').map(([name, code]) => [code, name]),
);

/**
 * Adapts a promise-returning handler to grpc-js: counts the call by status,
 * times it, and maps errors in one place. Metric children are bound once per
 * method so the hot path does no label lookups.
 */
export function unaryCall<Request, Response>(
  method: string,
  metrics: Metrics,
  logger: Logger,
  handler: (request: Request, call: ServerUnaryCall<Request, Response>) => Promise<Response>,
): handleUnaryCall<Request, Response> {
  const duration = metrics.rpcDuration.labels(method);
  const counters = new Map<number, ReturnType<typeof metrics.rpcRequests.labels>>();
  const count = (code: number): void => {
    let counter = counters.get(code);
    if (counter === undefined) {
      counter = metrics.rpcRequests.labels(method, STATUS_NAMES[code] ?? String(code));
      counters.set(code, counter);
    }
    counter.inc();
  };
  const inFlight = metrics.rpcInFlight;

  return (call, callback) => {
    const started = performance.now();
    inFlight.inc();
    let answer: Promise<Response>;
    try {
      answer = handler(call.request, call);
    } catch (error) {
      // A handler that throws before its first await still gets counted and mapped.
      answer = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    answer.then(
      (response) => {
        callback(null, response);
        count(status.OK);
        duration.observe((performance.now() - started) / 1000);
        inFlight.dec();
      },
      (error: unknown) => {
        const callError = toCallError(error, logger, method);
        callback(callError);
        count(callError.code);
        duration.observe((performance.now() - started) / 1000);
        inFlight.dec();
      },
    );
  };
}

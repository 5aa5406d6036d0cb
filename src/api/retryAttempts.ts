import { ServerInterceptingCall, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';
import type { Counter } from 'prom-client';

/** The header a gRPC client sends with a retry (gRFC A6): how many attempts of the call came before it. */
export const PREVIOUS_ATTEMPTS_KEY = 'grpc-previous-rpc-attempts';

/**
 * Counts the calls that arrive as retries of an earlier attempt, by full
 * method name (`fraud.v1.FraudService/Predict`). Clients with the published
 * service config retry busy answers and UNAVAILABLE: this is the load those
 * retries add, beside the calls of fraud_grpc_requests_total. Runs first, so
 * a retry refused again is counted too.
 */
export function retryAttemptsInterceptor(retries: Counter<'method'>): ServerInterceptor {
  return (method, call) =>
    new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata: Metadata, nextMetadata: (metadata: Metadata) => void) => {
            if (metadata.get(PREVIOUS_ATTEMPTS_KEY).length > 0) retries.labels(method.path.slice(1)).inc();
            nextMetadata(metadata);
          },
        });
      },
    });
}

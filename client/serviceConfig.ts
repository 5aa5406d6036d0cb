import type { ChannelOptions } from '@grpc/grpc-js';

/** How a call is retried: gRPC's retryPolicy (gRFC A6), in milliseconds. */
export interface RetryPolicy {
  /** Attempts in all, the first included (1: no retries). */
  readonly attempts: number;
  /** Backoff before the first retry; each next one doubles it, up to maxBackoffMs, with ±20 % jitter. */
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

/** The published policy (deploy/service-config.json). */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, initialBackoffMs: 50, maxBackoffMs: 2_000 };

/** `retry` with the published policy's values where it leaves one out. */
export function retryPolicy(retry: Partial<RetryPolicy> = {}): RetryPolicy {
  return {
    attempts: retry.attempts ?? DEFAULT_RETRY.attempts,
    initialBackoffMs: retry.initialBackoffMs ?? DEFAULT_RETRY.initialBackoffMs,
    maxBackoffMs: retry.maxBackoffMs ?? DEFAULT_RETRY.maxBackoffMs,
  };
}

/**
 * What is retried, for every method of fraud.v1.FraudService. Both are safe
 * because the service records a transaction or an outcome once, by
 * transaction id: a retry of a call that did record answers as a repeat
 * (the same features, unless the card had another transaction in the same
 * second recorded in between; an outcome OUTCOME_STATUS_DUPLICATE).
 * - UNAVAILABLE: no model serves the task yet, or the history store did not
 *   answer in time; also the client's own connection failures.
 * - RESOURCE_EXHAUSTED: the service is busy (admission control); the answer
 *   names its delay in the grpc-retry-pushback-ms trailer, which the client
 *   waits instead of its backoff. A request over FRAUD_MAX_MESSAGE_BYTES is
 *   refused with it too, before it is decoded; at the default 4 MiB it is
 *   larger than any client's retry buffer (grpc-js 1 MiB, C-core and grpc-go
 *   256 KiB), which no client sends again.
 * DEADLINE_EXCEEDED is not: the deadline is the whole call's, retries
 * included, so nothing is left of it.
 */
export const RETRYABLE_STATUS_CODES = ['UNAVAILABLE', 'RESOURCE_EXHAUSTED'] as const;

/** The part of gRPC's service config this client sets (the JSON form every gRPC library reads). */
export interface FraudServiceConfig {
  readonly loadBalancingConfig: readonly [{ readonly round_robin: Record<string, never> }];
  readonly methodConfig: readonly {
    readonly name: readonly { readonly service: string }[];
    readonly retryPolicy?: {
      readonly maxAttempts: number;
      readonly initialBackoff: string;
      readonly maxBackoff: string;
      readonly backoffMultiplier: number;
      readonly retryableStatusCodes: readonly string[];
    };
  }[];
}

/**
 * The service config of a channel to the service: round_robin over every
 * address the target resolves to (each replica behind a headless Service, not
 * only the first one grpc-js's default, pick_first, keeps for the channel's
 * life), and `retry` as the retryPolicy of every method. With the default
 * policy it is deploy/service-config.json, the config published for any gRPC
 * client. A service config published in DNS (TXT) wins over it.
 */
export function fraudServiceConfig(retry: RetryPolicy = DEFAULT_RETRY): FraudServiceConfig {
  checkRetryPolicy(retry);
  const retryPolicy =
    retry.attempts < 2
      ? undefined
      : {
          maxAttempts: retry.attempts,
          initialBackoff: duration(retry.initialBackoffMs),
          maxBackoff: duration(retry.maxBackoffMs),
          backoffMultiplier: 2,
          retryableStatusCodes: [...RETRYABLE_STATUS_CODES],
        };
  return {
    loadBalancingConfig: [{ round_robin: {} }],
    methodConfig: [{ name: [{ service: 'fraud.v1.FraudService' }], ...(retryPolicy === undefined ? {} : { retryPolicy }) }],
  };
}

/**
 * The channel options that give a grpc-js channel this config. grpc-js makes
 * at most 5 attempts unless told more (C-core and grpc-go stop at 5 whatever
 * the config says).
 */
export function serviceConfigOptions(retry: RetryPolicy = DEFAULT_RETRY): ChannelOptions {
  return {
    'grpc.service_config': JSON.stringify(fraudServiceConfig(retry)),
    ...(retry.attempts > 5 ? { 'grpc-node.retry_max_attempts_limit': retry.attempts } : {}),
  };
}

function checkRetryPolicy(retry: RetryPolicy): void {
  if (!Number.isInteger(retry.attempts) || retry.attempts < 1) throw new RangeError(`retry.attempts must be an integer of at least 1, got ${retry.attempts}`);
  for (const [name, value] of [
    ['initialBackoffMs', retry.initialBackoffMs],
    ['maxBackoffMs', retry.maxBackoffMs],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`retry.${name} must be a whole number of milliseconds, at least 1, got ${value}`);
  }
}

/** Milliseconds as a protobuf JSON Duration ("0.05s", "2s"). */
function duration(milliseconds: number): string {
  return `${(milliseconds / 1000).toFixed(3).replace(/\.?0+$/, '')}s`;
}

import { Metadata, ServerInterceptingCall, status, type ServerInterceptor, type ServerInterceptingCallInterface } from '@grpc/grpc-js';
import type { AccessPolicy } from '../config/securityConfig.js';
import { methodLabel } from '../api/callMetrics.js';
import { ErrorInfo } from '../gen/google/rpc/error_details.js';
import { Status } from '../gen/google/rpc/status.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { BearerTokens } from './bearerTokens.js';
import { certificateNames } from './callerIdentity.js';

/** The calls that change what the service remembers (and so every later score of a terminal). */
const WRITE_METHODS: ReadonlySet<string> = new Set(['/fraud.v1.FraudService/ReportOutcome', '/fraud.v1.FraudService/ReportOutcomeBatch']);
/** Always open: probes and tools must reach them without credentials. Every other method is a read. */
const OPEN_PREFIXES = ['/grpc.health.v1.Health/', '/grpc.reflection.v1.ServerReflection/', '/grpc.reflection.v1alpha.ServerReflection/'];

/** Why a call was refused: the google.rpc.ErrorInfo reason, and in lower case the metric's `reason` label. */
export type RefusalReason = 'CREDENTIALS_MISSING' | 'TOKEN_INVALID' | 'CLIENT_NOT_ALLOWED';

export interface AccessRules {
  readonly writes: AccessPolicy;
  readonly reads: AccessPolicy;
  /** The bearer tokens now (they are reloaded); undefined when no tokens file is configured. */
  readonly tokens: () => BearerTokens | undefined;
  /** Client-certificate names allowed to write; empty: any certificate the client CA verifies. */
  readonly clientNames: readonly string[];
}

type Decision = { readonly allowed: true } | { readonly allowed: false; readonly reason: RefusalReason; readonly message: string; readonly principal?: string };

const ERROR_DOMAIN = 'fraud.v1.FraudService';
/** Refusals of one reason get a warn line this often at most: an operator sees who is refused, and a client retrying a bad token cannot flood the log. */
const WARN_EVERY_MS = 60_000;
const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';
const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

/**
 * Checks who calls, before the call's request is read: a bearer token
 * (`authorization: Bearer <token>`, which the Envoy sidecar forwards from
 * REST callers) or the client certificate mutual TLS verified. Writes and
 * reads each follow their policy; health and reflection stay open. Refusals
 * are UNAUTHENTICATED (no or invalid credentials) or PERMISSION_DENIED (a
 * certificate not allowed to write), with a google.rpc.ErrorInfo reason,
 * counted in fraud_auth_refusals_total and logged without the token: at
 * warn once a minute per reason at most, the rest at debug.
 */
export function authenticationInterceptor(rules: AccessRules, metrics: Metrics, logger: Logger): ServerInterceptor {
  const warned = new Map<RefusalReason, { at: number; since: number }>();
  return (method, call) => {
    const policy = WRITE_METHODS.has(method.path) ? rules.writes : OPEN_PREFIXES.some((prefix) => method.path.startsWith(prefix)) ? 'open' : rules.reads;
    if (policy === 'open') return new ServerInterceptingCall(call);
    let refused = false;
    return new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const decision = decide(rules, WRITE_METHODS.has(method.path), metadata, call);
            if (decision.allowed) {
              nextMetadata(metadata);
              return;
            }
            refused = true;
            const methodName = methodLabel(method.path);
            metrics.authRefusals.labels(methodName, decision.reason.toLowerCase()).inc();
            const record = { method: methodName, reason: decision.reason, peer: call.getPeer(), principal: decision.principal };
            const now = Date.now();
            const last = warned.get(decision.reason);
            if (last === undefined || now - last.at >= WARN_EVERY_MS) {
              warned.set(decision.reason, { at: now, since: 0 });
              logger.warn(
                { ...record, refusedSinceLastLine: last?.since ?? 0 },
                'call refused by authentication (one line per reason a minute at most, the others at debug; fraud_auth_refusals_total counts every one)',
              );
            } else {
              last.since++;
              logger.debug(record, 'call refused by authentication');
            }
            call.sendStatus(refusal(decision, methodName));
          },
          // A refused call's request is dropped as it comes, never handed on.
          onReceiveMessage: (message, nextMessage) => {
            if (!refused) nextMessage(message);
          },
          onReceiveHalfClose: (nextHalfClose) => {
            if (!refused) nextHalfClose();
          },
        });
      },
    });
  };
}

function decide(rules: AccessRules, write: boolean, metadata: Metadata, call: ServerInterceptingCallInterface): Decision {
  const tokens = rules.tokens();
  const header = metadata.get('authorization')[0];
  // Without a tokens file the header is not a credential this service checks (a REST caller may send one for another hop).
  if (tokens !== undefined && header !== undefined) {
    const token = /^Bearer +(\S+) *$/i.exec(String(header))?.[1];
    if (token === undefined) return { allowed: false, reason: 'TOKEN_INVALID', message: 'the authorization header must be "Bearer <token>"' };
    if (tokens.principalOf(token) === undefined) return { allowed: false, reason: 'TOKEN_INVALID', message: 'the bearer token is not valid' };
    return { allowed: true };
  }
  const certificate = call.getAuthContext().sslPeerCertificate;
  if (certificate !== undefined) {
    const names = certificateNames(certificate);
    if (!write || rules.clientNames.length === 0 || names.some((name) => rules.clientNames.includes(name))) return { allowed: true };
    return {
      allowed: false,
      reason: 'CLIENT_NOT_ALLOWED',
      message: `the client certificate (${names[0] ?? 'no name'}) is not allowed to write (FRAUD_AUTH_CLIENT_NAMES)`,
      principal: names[0],
    };
  }
  return {
    allowed: false,
    reason: 'CREDENTIALS_MISSING',
    message: `this method needs credentials: ${tokens === undefined ? 'a client certificate' : 'a bearer token (authorization: Bearer <token>) or a client certificate'}`,
  };
}

function refusal(decision: Extract<Decision, { allowed: false }>, method: string): { code: status; details: string; metadata: Metadata } {
  const code = decision.reason === 'CLIENT_NOT_ALLOWED' ? status.PERMISSION_DENIED : status.UNAUTHENTICATED;
  const errorInfo = ErrorInfo.encode({ reason: decision.reason, domain: ERROR_DOMAIN, metadata: { method } }).finish();
  const details = Status.encode({ code, message: decision.message, details: [{ typeUrl: ERROR_INFO_TYPE_URL, value: Buffer.from(errorInfo) }] }).finish();
  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(details));
  return { code, details: decision.message, metadata };
}

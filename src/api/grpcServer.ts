import { Server, ServerCredentials, type ServerInterceptor, type ServerOptions } from '@grpc/grpc-js';
import type { Logger } from '../observability/logger.js';
import type { CallMetrics } from './callMetrics.js';
import { StrictDecoding } from './requestDecoding.js';
import { admissionInterceptor, type RowAdmission } from './rowAdmission.js';
import { StreamBudget } from './streamBudget.js';
import type { ServerReflection } from './serverReflection.js';
import type { ServingHealth } from './servingHealth.js';
import { FraudServiceService, type FraudServiceServer } from '../gen/fraud/v1/fraud_service.js';

/**
 * The messages admission control counts as one row: a transaction to score,
 * an outcome to record (each has an answer of its own that a client may leave
 * unread).
 */
const ROW_TYPES = ['fraud.v1.Transaction', 'fraud.v1.TransactionOutcome'];

/** Limits of the transport, from the FRAUD_GRPC_* settings (see config.ts). */
export interface GrpcTransportOptions {
  /** Largest request accepted; larger ones fail with RESOURCE_EXHAUSTED before any work. */
  readonly maxMessageBytes: number;
  readonly maxConcurrentStreams: number;
  /** Streams open at once in the process, shared among the connections (see streamBudget.ts). */
  readonly maxConcurrentStreamsTotal: number;
  readonly maxSessionMemoryMb: number;
  /** 0: connections never age out. */
  readonly maxConnectionAgeMs: number;
  readonly maxConnectionAgeGraceMs: number;
}

export interface GrpcServerOptions extends GrpcTransportOptions {
  readonly fraudService: FraudServiceServer;
  readonly health: ServingHealth;
  readonly reflection: ServerReflection;
  /** Counts every call by the status its client got (the benchmark's no-op server has none). */
  readonly callMetrics?: CallMetrics;
  /** Starts a span per fraud service call (src/observability/tracing.ts); absent when tracing is off. */
  readonly tracing?: ServerInterceptor;
  /** Admission control of the scoring calls, with the logger its refusals are mapped with. */
  readonly admission?: { readonly rows: RowAdmission; readonly logger: Logger };
  /** Who may call what (src/security/); checked before admission, so a refused call takes no rows. */
  readonly authentication?: ServerInterceptor;
}

/**
 * Health alone, for a plaintext port (FRAUD_HEALTH_PORT): probes that cannot
 * speak TLS, or present no client certificate (the kubelet's gRPC probe),
 * reach it while the main port takes only (mutual) TLS.
 */
export function createHealthServer(health: Pick<ServingHealth, 'addToServer'>): Server {
  const server = new Server({ 'grpc.max_concurrent_streams': 16 });
  health.addToServer(server);
  return server;
}

/** The gRPC server with its services: fraud scoring, health, reflection. */
export function createGrpcServer(options: GrpcServerOptions): Server {
  // The API the server describes through reflection is the one it decodes (read once).
  const decoding = new StrictDecoding(options.reflection.descriptorSet, ROW_TYPES);
  // Transport side first: the call metrics see every status, admission refusals included.
  const interceptors: ServerInterceptor[] = [];
  if (options.tracing !== undefined) interceptors.push(options.tracing);
  if (options.callMetrics !== undefined) interceptors.push(options.callMetrics.interceptor);
  if (options.authentication !== undefined) interceptors.push(options.authentication);
  interceptors.push(new StreamBudget(options.maxConcurrentStreamsTotal, options.maxConcurrentStreams).interceptor);
  if (options.admission !== undefined) {
    interceptors.push(admissionInterceptor(options.admission.rows, (path) => decoding.carriesRows(path), options.admission.logger));
  }
  const serverOptions: ServerOptions = {
    'grpc.max_receive_message_length': options.maxMessageBytes,
    // Bounds what one connection can hold: calls open at once, and the HTTP/2
    // session's memory, mostly answers its client has not read; past it, Node
    // refuses new calls on that connection (clients get RESOURCE_EXHAUSTED).
    'grpc.max_concurrent_streams': options.maxConcurrentStreams,
    'grpc-node.max_session_memory': options.maxSessionMemoryMb,
    // Idle clients are pinged and dead ones dropped, so half-open connections do not pile up.
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
    interceptors,
  };
  if (options.maxConnectionAgeMs > 0) {
    // Clients reconnect (and re-resolve) when a connection ages out, so new
    // replicas get calls; the grace lets the calls still running finish.
    serverOptions['grpc.max_connection_age_ms'] = options.maxConnectionAgeMs;
    serverOptions['grpc.max_connection_age_grace_ms'] = options.maxConnectionAgeGraceMs;
  }
  const server = new Server(serverOptions);
  server.addService(decoding.wrap(FraudServiceService), options.fraudService);
  options.health.addToServer(server);
  options.reflection.addToServer(server);
  options.callMetrics?.countUnroutedCalls(server);
  return server;
}

/** Binds the server (plaintext unless TLS credentials are given); resolves with the port (useful with port 0 in tests). */
export function listen(
  server: Server,
  host: string,
  port: number,
  credentials: ServerCredentials = ServerCredentials.createInsecure(),
  variables = 'FRAUD_GRPC_HOST, FRAUD_GRPC_PORT',
): Promise<number> {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolveBind, rejectBind) => {
    server.bindAsync(address, credentials, (error, boundPort) => {
      if (error) rejectBind(new Error(`cannot listen for gRPC on ${address} (${variables}): ${error.message}`));
      else resolveBind(boundPort);
    });
  });
}

import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { ServerReflection } from './serverReflection.js';
import type { ServingHealth } from './servingHealth.js';
import { FraudServiceService, type FraudServiceServer } from '../gen/fraud/v1/fraud_service.js';

export interface GrpcServerOptions {
  readonly fraudService: FraudServiceServer;
  readonly health: ServingHealth;
  readonly reflection: ServerReflection;
  /** Largest request accepted; larger ones fail with RESOURCE_EXHAUSTED before any work. */
  readonly maxMessageBytes: number;
}

/** The gRPC server with its services: fraud scoring, health, reflection. */
export function createGrpcServer(options: GrpcServerOptions): Server {
  const server = new Server({
    'grpc.max_receive_message_length': options.maxMessageBytes,
    // Idle clients are pinged and dead ones dropped, so half-open connections do not pile up.
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
    'grpc.max_connection_age_ms': 30 * 60_000,
    'grpc.max_connection_age_grace_ms': 30_000,
  });
  server.addService(FraudServiceService, options.fraudService);
  options.health.addToServer(server);
  options.reflection.addToServer(server);
  return server;
}

/** Binds the server; resolves with the port (useful with port 0 in tests). */
export function listen(server: Server, host: string, port: number): Promise<number> {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolveBind, rejectBind) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (error, boundPort) => {
      if (error) rejectBind(new Error(`cannot listen for gRPC on ${address} (FRAUD_GRPC_HOST, FRAUD_GRPC_PORT): ${error.message}`));
      else resolveBind(boundPort);
    });
  });
}

import type { FraudServiceServer, PredictResponse } from '../src/gen/fraud/v1/fraud_service.js';
import { createGrpcServer, listen } from '../src/api/grpcServer.js';
import { ServerReflection } from '../src/api/serverReflection.js';
import { ServingHealth, ServingStatus } from '../src/api/servingHealth.js';
import { status } from '@grpc/grpc-js';
import { loadConfig } from '../src/config/config.js';

/**
 * The transport ceiling: the same gRPC server, services and messages as the real
 * one, whose Predict answers a constant without validating or scoring anything.
 */
const answer: PredictResponse = {
  prediction: 'FRAUD',
  classProbability: 0.97,
  classId: 1,
  fraudProbability: 0.97,
  threshold: 0.5,
  probabilities: [0.03, 0.97],
  transactionId: 1n,
  model: { name: 'fraud-binary', version: '1.0.0', revision: 'sha256:000000000000' },
  features: {},
};
const unimplemented = (_call: unknown, callback: (error: { code: number; details: string }) => void): void => {
  callback({ code: status.UNIMPLEMENTED, details: 'no-op server' });
};
const handlers: FraudServiceServer = {
  predict: (call, callback) => {
    callback(null, { ...answer, transactionId: call.request.transaction?.transactionId ?? 0n });
  },
  predictScenario: unimplemented,
  predictBatch: unimplemented,
  predictScenarioBatch: unimplemented,
  getModelInfo: unimplemented,
  getModelQuality: unimplemented,
  reportOutcome: unimplemented,
  reportOutcomeBatch: unimplemented,
  predictStream: (call) => {
    call.emit('error', { code: status.UNIMPLEMENTED, details: 'no-op server' });
  },
};

// The same transport settings as the service's, from the same variables.
const server = createGrpcServer({
  fraudService: handlers,
  health: new ServingHealth({ '': ServingStatus.SERVING }),
  reflection: new ServerReflection(),
  ...loadConfig(process.env).grpc,
});
const port = await listen(server, '127.0.0.1', Number(process.argv[2] ?? 0));
process.stdout.write(`${JSON.stringify({ msg: 'listening', grpcPort: port })}\n`);
process.on('SIGTERM', () => {
  server.forceShutdown();
  process.exit(0);
});

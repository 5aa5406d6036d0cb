import { Writable } from 'node:stream';
import { FraudClient, type TransactionInput } from '../../client/fraudClient.js';
import { loadConfig } from '../../src/config/config.js';
import { startService, type RunningService } from '../../src/main.js';
import { createLogger } from '../../src/observability/logger.js';
import { bundled } from './paths.js';
import { waitFor } from './waitFor.js';

export interface LogRecord {
  readonly level: string;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export interface TestService {
  readonly service: RunningService;
  readonly client: FraudClient;
  readonly address: string;
  readonly logs: LogRecord[];
  stop(): Promise<void>;
}

/**
 * The real service, assembled by the same composition root as production,
 * listening on 127.0.0.1 with ports chosen by the OS; its log lines are kept
 * for assertions. Waits for SERVING unless `waitUntilReady` is false.
 */
export async function startTestService(env: Record<string, string> = {}, waitUntilReady = true): Promise<TestService> {
  const config = loadConfig({
    FRAUD_GRPC_HOST: '127.0.0.1',
    FRAUD_GRPC_PORT: '0',
    FRAUD_METRICS_HOST: '127.0.0.1',
    FRAUD_METRICS_PORT: '0',
    FRAUD_BINARY_MODEL_URI: bundled('fraud-binary'),
    FRAUD_SCENARIO_MODEL_URI: bundled('fraud-scenario'),
    FRAUD_SHUTDOWN_GRACE_SECONDS: '5',
    // Local development: GetModelInfo shows store URLs and raw errors (tests check them).
    FRAUD_MODEL_INFO_DETAILS: 'true',
    ...env,
  });
  const logs: LogRecord[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as LogRecord);
      done();
    },
  });
  const logger = createLogger('debug', sink);
  const service = await startService(config, logger);
  const address = `127.0.0.1:${service.grpcPort}`;
  const client = new FraudClient({ address, deadlineMs: 10_000, retry: { attempts: 1 } });
  if (waitUntilReady) await waitFor('both models loaded', () => service.registry.ready);
  return {
    service,
    client,
    address,
    logs,
    async stop() {
      client.close();
      await service.shutdown();
    },
  };
}

let freshEntity = 0;

/**
 * A transaction every model accepts; override fields per test. Unless told
 * otherwise it is the first transaction of a new card at a new terminal, so
 * the history features are those of an empty history whatever ran before.
 */
export function transaction(overrides: Partial<TransactionInput> = {}): TransactionInput {
  freshEntity++;
  return {
    transactionId: 1,
    customerId: 1_000_000 + freshEntity,
    terminalId: 2_000_000 + freshEntity,
    txAmount: 57.16,
    txTimeSeconds: 3600,
    txTimeDays: 0,
    ...overrides,
  };
}

/** Days of ordinary spending a card has behind it in `establishedCard`. */
const ESTABLISHED_DAYS = 20;

/**
 * A card with an ordinary past: one transaction a day for 20 days, at its own
 * terminals, of amounts around `typicalAmount` (±20 %), the last a day before
 * `next`, which is the card's transaction to score. Score `history` first
 * (e.g. with one PredictBatch): the patterns of the simulator show only
 * against a card's past (a compromised card spends several times its usual
 * amount; an amount over 220 is fraud whatever the card).
 */
export function establishedCard(typicalAmount: number, next: Partial<TransactionInput> = {}): { history: TransactionInput[]; next: TransactionInput } {
  freshEntity++;
  const customerId = 3_000_000 + freshEntity;
  const history = Array.from({ length: ESTABLISHED_DAYS }, (_, day) => ({
    transactionId: 90_000_000 + freshEntity * 100 + day,
    customerId,
    terminalId: 4_000_000 + freshEntity * 100 + day,
    txAmount: typicalAmount * (0.8 + (0.4 * ((day * 7) % 10)) / 10),
    txTimeSeconds: 86_400 * day + 43_200,
    txTimeDays: day,
  }));
  return {
    history,
    next: {
      transactionId: 90_000_000 + freshEntity * 100 + ESTABLISHED_DAYS,
      customerId,
      terminalId: 4_000_000 + freshEntity * 100 + ESTABLISHED_DAYS,
      txAmount: typicalAmount,
      txTimeSeconds: 86_400 * ESTABLISHED_DAYS + 43_200,
      txTimeDays: ESTABLISHED_DAYS,
      ...next,
    },
  };
}

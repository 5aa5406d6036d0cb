import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FraudClient, type OutcomeInput, type TransactionInput } from '../../client/fraudClient.js';
import { packageRoot } from '../../src/packageRoot.js';
import { RedisServer } from '../helpers/redis.js';
import { fixture } from '../helpers/paths.js';
import { startTestService } from '../helpers/testService.js';

const execFileAsync = promisify(execFile);

interface ReplayEvent {
  readonly transaction?: { transaction_id: number; customer_id: number; terminal_id: number; tx_amount: number; tx_time_seconds: number };
  readonly outcome?: { transaction_id: number; outcome: 'fraud' | 'legitimate'; known_at_seconds: number; supersedes?: boolean };
}

interface Replay {
  readonly events: readonly ReplayEvent[];
  /** The offline pipeline's features of each transaction, by id. */
  readonly features: ReadonlyMap<number, Readonly<Record<string, number>>>;
  readonly tolerance: number;
}

/**
 * The training pipeline's replay files for a period simulated with a seed no
 * test or model uses (`training/run replay`), 2 % of its outcomes corrected later.
 */
async function simulatedReplay(folder: string): Promise<Replay> {
  await execFileAsync(join(packageRoot, 'training', 'run'), ['replay', '--out', folder, '--seed', '99', '--customers', '600', '--terminals', '1200', '--days', '50', '--corrections', '0.02'], {
    maxBuffer: 16 * 1024 * 1024,
  });
  const lines = async (name: string): Promise<unknown[]> =>
    (await readFile(join(folder, name), 'utf8'))
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as unknown);
  const events = (await lines('events.jsonl')) as ReplayEvent[];
  const features = new Map(
    ((await lines('features.jsonl')) as { transaction_id: number; features: Record<string, number> }[]).map((entry) => [entry.transaction_id, entry.features]),
  );
  const meta = JSON.parse(await readFile(join(folder, 'replay.json'), 'utf8')) as { tolerance?: number };
  return { events, features, tolerance: meta.tolerance ?? 1e-6 };
}

/**
 * Feeds the replay through the service as production would: transactions by
 * PredictBatch (explain on), outcomes by ReportOutcomeBatch, in arrival order
 * (a batch of transactions ends where a fraud outcome comes), and returns the
 * features the model saw for each transaction. Legitimate first reports
 * change no feature (feature spec, history.rules), so where they fall between
 * transactions does not matter: they go in large batches. Corrections
 * (supersedes) go in order, as fraud reports do.
 */
async function feed(client: FraudClient, events: readonly ReplayEvent[]): Promise<Map<number, Record<string, number>>> {
  const seen = new Map<number, Record<string, number>>();
  let transactions: TransactionInput[] = [];
  let outcomes: OutcomeInput[] = [];
  let legitimate: OutcomeInput[] = [];
  const flushTransactions = async (): Promise<void> => {
    if (transactions.length === 0) return;
    const answer = await client.predictBatch(transactions, { explain: true });
    answer.predictions.forEach((prediction) => seen.set(Number(prediction.transactionId), prediction.features));
    transactions = [];
  };
  const flushOutcomes = async (): Promise<void> => {
    if (outcomes.length === 0) return;
    await client.reportOutcomes(outcomes);
    outcomes = [];
  };
  for (const event of events) {
    if (event.outcome?.outcome === 'legitimate' && event.outcome.supersedes !== true) {
      legitimate.push({ transactionId: event.outcome.transaction_id, outcome: 'legitimate', knownAtSeconds: event.outcome.known_at_seconds });
      if (legitimate.length === 5_000) {
        await client.reportOutcomes(legitimate);
        legitimate = [];
      }
    } else if (event.transaction !== undefined) {
      await flushOutcomes();
      const { transaction_id, customer_id, terminal_id, tx_amount, tx_time_seconds } = event.transaction;
      transactions.push({ transactionId: transaction_id, customerId: customer_id, terminalId: terminal_id, txAmount: tx_amount, txTimeSeconds: tx_time_seconds });
      if (transactions.length === 5_000) await flushTransactions();
    } else if (event.outcome !== undefined) {
      await flushTransactions();
      const { transaction_id, outcome, known_at_seconds, supersedes } = event.outcome;
      outcomes.push({ transactionId: transaction_id, outcome, knownAtSeconds: known_at_seconds, supersedes: supersedes === true });
    }
  }
  await flushTransactions();
  await flushOutcomes();
  if (legitimate.length > 0) await client.reportOutcomes(legitimate);
  return seen;
}

/**
 * Every feature the model saw for every transaction, compared with the offline
 * pipeline's (which computes every spec feature); the mismatches, described.
 */
function mismatches(replay: Replay, seen: ReadonlyMap<number, Record<string, number>>): string[] {
  const problems: string[] = [];
  for (const [id, expected] of replay.features) {
    const actual = seen.get(id);
    if (actual === undefined) {
      problems.push(`transaction ${id}: not scored`);
      continue;
    }
    if (Object.keys(actual).length === 0) problems.push(`transaction ${id}: no features explained`);
    for (const [name, got] of Object.entries(actual)) {
      const value = expected[name];
      if (value === undefined || Math.abs(got - value) > replay.tolerance) problems.push(`transaction ${id}: ${name} is ${got}, offline ${value}`);
    }
  }
  return problems;
}

function replayParitySuite(store: string, env: () => Record<string, string>, prepare?: () => Promise<void>): void {
  it(`should give, in the ${store} store, every transaction the features the offline pipeline computes (to 1e-6)`, async function () {
    this.timeout(600_000);
    await prepare?.();
    const folder = await mkdtemp(join(tmpdir(), 'fraud-replay-'));
    try {
      const replay = await simulatedReplay(folder);
      const service = await startTestService({ FRAUD_MAX_BATCH_SIZE: '10000', ...env() });
      const client = new FraudClient({ address: service.address, deadlineMs: 120_000, retry: { attempts: 1 } });
      try {
        const seen = await feed(client, replay.events);
        const problems = mismatches(replay, seen);
        const outcomes = replay.events.filter((event) => event.outcome !== undefined).length;
        console.log(`      ${replay.features.size} transactions, ${outcomes} outcomes replayed; ${problems.length} features differ from the offline pipeline's`);
        assert.deepEqual(problems.slice(0, 10), []);
      } finally {
        client.close();
        await service.stop();
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
}

describe('replay parity: online features equal the offline pipeline\'s', () => {
  let redis: RedisServer | undefined;
  after(async () => {
    await redis?.stop();
  });

  replayParitySuite('embedded', () => ({ FRAUD_STATE_STORE: 'memory' }));
  // The bundled models take the latest fraud streak; a version-2 model (the v2 streak) keeps that one checked too.
  replayParitySuite('embedded (a version-2 model)', () => ({ FRAUD_STATE_STORE: 'memory', FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32') }));
  replayParitySuite('Redis', () => ({ FRAUD_STATE_STORE: 'redis', FRAUD_REDIS_URL: (redis as RedisServer).url, FRAUD_REDIS_TIMEOUT_MS: '5000' }), async () => {
    redis = await RedisServer.start();
  });
});

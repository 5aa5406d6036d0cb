/**
 * The Redis store against the embedded one, Redis on loopback: unary Predict
 * with online features at concurrency 64 (target: Redis >= 80 % of the
 * embedded store's requests/s), then one 10,000-transaction PredictBatch at a
 * time, the default FRAUD_REDIS_TIMEOUT_MS (100 ms) (target: every batch
 * answered; the time against the embedded store's is reported).
 *
 *   npm run build && node dist/bench/redisBench.js [concurrency] [calls] [rounds]
 *
 * `npm run bench` runs it too (redisFigures) for its targets table.
 *
 * Both services run side by side (the history model, FRAUD_LOG_LEVEL=warn)
 * and are loaded in turn with the same distinct transactions, several rounds,
 * so noise on the machine hits both sides of the ratio alike. redis-server
 * runs on the same cores, as it would on loopback.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { FraudClient } from '../client/fraudClient.js';
import { RedisServer } from '../test/helpers/redis.js';
import { spawnService, type SpawnedService } from '../test/helpers/spawnService.js';
import { waitFor } from '../test/helpers/waitFor.js';
import { HISTORY_MODEL, unaryRequests, unaryRound, type UnaryRound } from './historyBench.js';
import { TransactionStream } from './transactionStream.js';

export interface RedisFigures {
  /** Requests/s of unary Predict, Redis store over embedded store (medians). */
  readonly unaryRatio: number;
  /** Time of one 10,000-transaction PredictBatch, Redis store over embedded store (medians). */
  readonly batchTimeRatio: number;
  readonly failedBatches: number;
}

async function serving(service: SpawnedService): Promise<void> {
  const client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
  try {
    await waitFor('SERVING', async () => (await client.checkHealth('').catch(() => 'UNKNOWN')) === 'SERVING', 30_000, 100);
  } finally {
    client.close();
  }
}

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

function median(values: readonly UnaryRound[]): UnaryRound {
  return [...values].sort((a, b) => a.rps - b.rps)[Math.floor(values.length / 2)] as UnaryRound;
}

export async function redisFigures(concurrency: number, calls: number, rounds: number): Promise<RedisFigures> {
  const redis = await RedisServer.start();
  const common = { FRAUD_BINARY_MODEL_URI: HISTORY_MODEL, FRAUD_LOG_LEVEL: 'warn' };
  const embedded = await spawnService({ ...common, FRAUD_STATE_STORE: 'memory' });
  const withRedis = await spawnService({ ...common, FRAUD_STATE_STORE: 'redis', FRAUD_REDIS_URL: redis.url });
  try {
    await Promise.all([serving(embedded), serving(withRedis)]);
    const stream = new TransactionStream(7);
    const memoryRounds: UnaryRound[] = [];
    const redisRounds: UnaryRound[] = [];
    const redisPid = Number(/process_id:(\d+)/.exec(await redis.command('INFO', 'server'))?.[1]);
    const cpu = { embedded: 0, service: 0, redis: 0 };
    for (let round = 0; round < rounds; round++) {
      const requests = unaryRequests(stream, calls + 1);
      let before = cpuSeconds(embedded.process.pid);
      memoryRounds.push(await unaryRound(embedded.address, requests, concurrency, calls));
      cpu.embedded += cpuSeconds(embedded.process.pid) - before;
      before = cpuSeconds(withRedis.process.pid);
      const redisBefore = cpuSeconds(redisPid);
      redisRounds.push(await unaryRound(withRedis.address, requests, concurrency, calls));
      cpu.service += cpuSeconds(withRedis.process.pid) - before;
      cpu.redis += cpuSeconds(redisPid) - redisBefore;
      const last = (list: UnaryRound[]): string => {
        const entry = list[list.length - 1] as UnaryRound;
        return `${entry.rps.toFixed(0)} req/s (p50 ${entry.p50Ms.toFixed(2)} ms, p99 ${entry.p99Ms.toFixed(2)} ms)`;
      };
      console.log(`round ${round + 1}: embedded ${last(memoryRounds)}, Redis ${last(redisRounds)}`);
    }
    const batchMs = { embedded: [] as number[], redis: [] as number[] };
    let failedBatches = 0;
    for (let round = 0; round < rounds; round++) {
      const batch = stream.take(10_000);
      for (const [side, service] of [['embedded', embedded], ['redis', withRedis]] as const) {
        const client = new FraudClient({ address: service.address, deadlineMs: 60_000, retry: { attempts: 1 } });
        const started = performance.now();
        try {
          await client.predictBatch(batch.map((transaction) => ({ ...transaction, transactionId: transaction.transactionId ?? 0n, customerId: transaction.customerId ?? 0n, terminalId: transaction.terminalId ?? 0n, txAmount: transaction.txAmount ?? 0 })));
          batchMs[side].push(performance.now() - started);
        } catch (error) {
          failedBatches++;
          console.log(`  ${side}: a 10,000-transaction batch failed: ${error instanceof Error ? error.message : String(error)}`);
        } finally {
          client.close();
        }
      }
    }
    const memory = median(memoryRounds);
    const onRedis = median(redisRounds);
    const info = await redis.command('INFO', 'stats');
    const commands = /total_commands_processed:(\d+)/.exec(info)?.[1] ?? '?';
    console.log(`Predict with history, c=${concurrency}, ${calls} distinct transactions per round, median of ${rounds}:`);
    console.log(`  embedded store ${memory.rps.toFixed(0)} req/s (p50 ${memory.p50Ms.toFixed(2)} ms, p99 ${memory.p99Ms.toFixed(2)} ms)`);
    console.log(`  Redis store    ${onRedis.rps.toFixed(0)} req/s (p50 ${onRedis.p50Ms.toFixed(2)} ms, p99 ${onRedis.p99Ms.toFixed(2)} ms); ${commands} Redis commands in all`);
    const perCall = (seconds: number): string => `${((seconds / (calls * rounds)) * 1e6).toFixed(0)} µs`;
    console.log(`  CPU per call: embedded service ${perCall(cpu.embedded)}; Redis store: service ${perCall(cpu.service)} + redis-server ${perCall(cpu.redis)}`);
    console.log(`  Redis / embedded: ${((onRedis.rps / memory.rps) * 100).toFixed(1)} % (target >= 80 %)`);
    const middle = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
    console.log(
      `PredictBatch of 10,000 with history, one at a time, median of ${rounds}: embedded ${middle(batchMs.embedded).toFixed(0)} ms, Redis ${middle(batchMs.redis).toFixed(0)} ms ` +
        `(${(middle(batchMs.redis) / middle(batchMs.embedded)).toFixed(1)} x; ${failedBatches} of ${2 * rounds} batches failed, target 0)`,
    );
    return { unaryRatio: onRedis.rps / memory.rps, batchTimeRatio: middle(batchMs.redis) / middle(batchMs.embedded), failedBatches };
  } finally {
    await Promise.all([embedded.kill(), withRedis.kill()]);
    await redis.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [concurrencyText, callsText, roundsText] = process.argv.slice(2);
  await redisFigures(Number(concurrencyText ?? 64), Number(callsText ?? 20_000), Number(roundsText ?? 3));
}

/**
 * Real-time calls while bulk batches run: unary Predict calls with a 200 ms
 * deadline, one after another from their own connection, while N batch
 * clients (bench/loadgen.js, each its own process and connection) send
 * 10,000-transaction batches back to back. Reports the unary calls' p50 and
 * p99 latency and the share that missed the deadline.
 */
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PredictRequest, Transaction } from '../src/gen/fraud/v1/fraud_service.js';
import { packageRoot } from '../src/packageRoot.js';

export const REAL_TIME_DEADLINE_MS = 200;

export interface RealTimeResult {
  readonly batchClients: number;
  readonly calls: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Calls that did not answer within their deadline (DEADLINE_EXCEEDED), as a share of all. */
  readonly missedShare: number;
  /** Calls that failed otherwise (refused, unavailable). */
  readonly failed: number;
}

const REQUEST = Buffer.from(
  PredictRequest.encode({
    explain: false,
    transaction: Transaction.fromPartial({ transactionId: 1n, customerId: 42n, terminalId: 7n, txAmount: 250, txTimeSeconds: 3600n, features: {} }),
  }).finish(),
);

/** Starts `count` batch clients sending the request in `batchRequestFile`; they run until stopped. */
function startBatchClients(address: string, batchRequestFile: string, count: number): ChildProcess[] {
  return Array.from({ length: count }, () =>
    spawn(process.execPath, [join(packageRoot, 'dist', 'bench', 'loadgen.js'), address, '/fraud.v1.FraudService/PredictBatch', batchRequestFile, '1', String(1_000_000)], {
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  );
}

/** How many batch answers the service has sent so far, from its metrics. */
async function batchesAnswered(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const match = /^fraud_grpc_requests_total\{method="fraud\.v1\.FraudService\/PredictBatch",code="OK"\} (\d+)/m.exec(text);
  return Number(match?.[1] ?? 0);
}

export async function realTimeUnderBatches(address: string, metricsPort: number, batchRequestFile: string, batchClients: number, calls: number): Promise<RealTimeResult> {
  const client = new Client(address, credentials.createInsecure());
  const batches = startBatchClients(address, batchRequestFile, batchClients);
  try {
    // Measured once every batch client has had answers, so they all run.
    const answeredBefore = await batchesAnswered(metricsPort);
    const giveUpAt = performance.now() + 60_000;
    while (batchClients > 0 && (await batchesAnswered(metricsPort)) < answeredBefore + 2 * batchClients) {
      if (performance.now() > giveUpAt) throw new Error(`the ${batchClients} batch clients got no answers for a minute`);
      await new Promise((wake) => setTimeout(wake, 50));
    }
    const latencies: number[] = [];
    let missed = 0;
    let failed = 0;
    for (let index = 0; index < calls; index++) {
      const started = performance.now();
      const code = await new Promise<status>((resolveCall) => {
        client.makeUnaryRequest(
          '/fraud.v1.FraudService/Predict',
          (bytes: Buffer) => bytes,
          (bytes: Buffer) => bytes,
          REQUEST,
          new Metadata(),
          { deadline: Date.now() + REAL_TIME_DEADLINE_MS },
          (error: ServiceError | null) => {
            resolveCall(error?.code ?? status.OK);
          },
        );
      });
      latencies.push(performance.now() - started);
      if (code === status.DEADLINE_EXCEEDED) missed++;
      else if (code !== status.OK) failed++;
    }
    latencies.sort((a, b) => a - b);
    const percentile = (share: number): number => latencies[Math.min(latencies.length - 1, Math.floor(share * latencies.length))] ?? Number.NaN;
    return { batchClients, calls, p50Ms: percentile(0.5), p99Ms: percentile(0.99), missedShare: missed / calls, failed };
  } finally {
    client.close();
    for (const batch of batches) batch.kill('SIGTERM');
  }
}

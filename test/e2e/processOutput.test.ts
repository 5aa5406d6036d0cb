import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { FraudClient } from '../../client/fraudClient.js';
import { PredictBatchRequest, Transaction } from '../../src/gen/fraud/v1/fraud_service.js';
import { SERVICE_NODE_FLAGS } from '../../src/nodeFlags.js';
import { largeSessionModel } from '../helpers/largeSessionModel.js';
import { MAIN_SCRIPT, bundled } from '../helpers/paths.js';
import { callRaw } from '../helpers/rawBytes.js';
import { sample, scrape } from '../helpers/scrape.js';
import { openSlowReader } from '../helpers/slowReader.js';
import { freePort } from '../helpers/spawnService.js';
import { waitFor } from '../helpers/waitFor.js';

interface Service {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly address: string;
  readonly metricsPort: number;
  readonly exited: Promise<number | string>;
  /** What stdout said up to its "listening" line; stdout is paused there, and nothing else reads it. */
  readonly startupOutput: readonly Buffer[];
}

/**
 * The service with its stdout and stderr on pipes this test controls (spawnService reads them;
 * these tests must not). Its ports are picked by the system and read from its "listening" line,
 * after which stdout is left paused.
 */
async function startWithPipes(env: Record<string, string>): Promise<Service> {
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, MAIN_SCRIPT], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      FRAUD_GRPC_HOST: '127.0.0.1',
      FRAUD_GRPC_PORT: '0',
      FRAUD_METRICS_HOST: '127.0.0.1',
      FRAUD_METRICS_PORT: '0',
      FRAUD_BINARY_MODEL_URI: bundled('fraud-binary'),
      FRAUD_SCENARIO_MODEL_URI: bundled('fraud-scenario'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | string>((resolveExit) => {
    child.once('exit', (code, signal) => {
      resolveExit(code ?? signal ?? 'unknown');
    });
  });
  const startupOutput: Buffer[] = [];
  const listening = await new Promise<{ grpcPort: number; metricsPort: number }>((resolveListening, rejectListening) => {
    const read = (chunk: Buffer): void => {
      startupOutput.push(chunk);
      const line = lines(startupOutput).find((each) => each.includes('"msg":"listening"'));
      if (line === undefined) return;
      child.stdout.off('data', read);
      child.stdout.pause();
      resolveListening(JSON.parse(line) as { grpcPort: number; metricsPort: number });
    };
    child.stdout.on('data', read);
    void exited.then((code) => {
      rejectListening(new Error(`the service exited (${String(code)}) before listening: ${Buffer.concat(startupOutput).toString('utf8')}`));
    });
  });
  return { child, address: `127.0.0.1:${listening.grpcPort}`, metricsPort: listening.metricsPort, exited, startupOutput };
}

async function waitUntilServing(service: Service): Promise<void> {
  const client = new FraudClient({ address: service.address, retry: { attempts: 1 }, deadlineMs: 1000 });
  try {
    await waitFor('SERVING', () => client.checkHealth().then((state) => state === 'SERVING', () => false), 20_000);
  } finally {
    client.close();
  }
}

function lines(chunks: readonly Buffer[]): string[] {
  return Buffer.concat(chunks).toString('utf8').split('\n').filter((line) => line !== '');
}

describe('the service process: output and shutdown whatever stdout is', function () {
  this.timeout(90_000);

  it('should end on SIGTERM, exit 0, when stdout is a pipe whose reader has gone', async () => {
    const service = await startWithPipes({ FRAUD_LOG_LEVEL: 'debug', FRAUD_SHUTDOWN_GRACE_SECONDS: '2' });
    try {
      await waitUntilServing(service);
      // The reader goes away: every later write to stdout fails with EPIPE, the
      // first of them the shutdown's own log lines.
      service.child.stdout.destroy();
      service.child.kill('SIGTERM');
      assert.equal(await service.exited, 0);
    } finally {
      service.child.kill('SIGKILL');
    }
  });

  it('should end on SIGTERM when stdout is a pipe nobody reads (full), within the grace period', async () => {
    const service = await startWithPipes({ FRAUD_LOG_LEVEL: 'debug', FRAUD_SHUTDOWN_GRACE_SECONDS: '2' });
    try {
      await waitUntilServing(service);
      service.child.stdout.pause();
      // Far more than a pipe holds (64 KiB): about 400 bytes of debug log per request.
      const calls = Array.from({ length: 20 }, async () => {
        for (let index = 0; index < 40; index++) await callRaw(service.address, '/fraud.v1.FraudService/Predict', Uint8Array.from([0x80]));
      });
      await Promise.all(calls);
      await waitFor('logs piling up', async () => (sample(await scrape(service.metricsPort), 'fraud_grpc_undecodable_requests_total{method="fraud.v1.FraudService/Predict"}') ?? 0) >= 800);
      service.child.kill('SIGTERM');
      assert.equal(await service.exited, 0);
    } finally {
      service.child.kill('SIGKILL');
    }
  });

  it('should exit at once (code 1) on a second SIGTERM while calls still hold the shutdown, even with stdout broken', async () => {
    const service = await startWithPipes({ FRAUD_SHUTDOWN_GRACE_SECONDS: '60' });
    const batch = PredictBatchRequest.encode({
      explain: false,
      transactions: Array.from({ length: 10_000 }, (_, index) => Transaction.fromPartial({ transactionId: BigInt(index), customerId: 1n, terminalId: 1n, txAmount: 10, txTimeSeconds: 3600n, features: {} })),
    }).finish();
    await waitUntilServing(service);
    // A call whose answer is never read keeps the drain waiting for the whole grace period.
    const holder = openSlowReader(service.address, '/fraud.v1.FraudService/PredictBatch', batch, 1, 1);
    const client = new FraudClient({ address: service.address, retry: { attempts: 1 }, deadlineMs: 1000 });
    try {
      assert.equal((await holder.settled).unread, 1);
      service.child.stdout.destroy();
      service.child.kill('SIGTERM');
      // The first signal is being handled once the server stops taking calls (it drains).
      await waitFor('the drain after the first signal', () => client.checkHealth().then(() => false, () => true));
      service.child.kill('SIGTERM');
      assert.equal(await service.exited, 1, 'the second signal ends the process; the first would have waited 60 s');
    } finally {
      client.close();
      holder.close();
      service.child.kill('SIGKILL');
    }
  });

  it('should print only JSON lines, stdout and stderr, with the AWS SDK warning into the log', async () => {
    const service = await startWithPipes({
      FRAUD_LOG_LEVEL: 'info',
      FRAUD_BINARY_MODEL_URI: 's3://fraud-models/main/models/fraud-binary.json',
      FRAUD_SCENARIO_MODEL_URI: 's3://fraud-models/main/models/fraud-scenario.json',
      FRAUD_S3_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
      // Both a profile and a key pair: the AWS SDK warns, over several lines, about which one it uses.
      AWS_PROFILE: 'fraud-test-no-such-profile',
      AWS_ACCESS_KEY_ID: 'AKIAFRAUDTEST',
      AWS_SECRET_ACCESS_KEY: 'fraud-test-secret-not-real',
      AWS_CONFIG_FILE: '/nonexistent/aws-config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    });
    const stdout: Buffer[] = [...service.startupOutput];
    const stderr: Buffer[] = [];
    service.child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    service.child.stdout.resume();
    service.child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    try {
      await waitFor('the AWS SDK warning in the log', () => lines(stdout).some((line) => line.includes('Multiple credential sources')), 20_000);
      service.child.kill('SIGTERM');
      await service.exited;
      const all = [...lines(stdout), ...lines(stderr)];
      for (const line of all) assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
      const warning = all.map((line) => JSON.parse(line) as { component?: string; level: string; msg: string }).find((record) => record.msg.includes('Multiple credential sources'));
      assert.equal(warning?.level, 'warn');
      assert.equal(warning.component, 'console');
      assert.ok(!all.some((line) => line.includes('fraud-test-secret-not-real')), 'the secret key never reaches the output');
    } finally {
      service.child.kill('SIGKILL');
    }
  });

  it('should print only JSON lines when a model run fails inside onnxruntime (its own error lines stay off stderr)', async () => {
    // A challenger that passes the loader's 4-row sample check and fails in onnxruntime on 3 rows.
    const challenger = largeSessionModel('fragile', 1_024, 0.618034, { onlyRunsOfItsSamples: true });
    const modelDir = await mkdtemp(join(tmpdir(), 'fraud-fragile-model-'));
    try {
      await writeFile(join(modelDir, 'fraud-binary.onnx'), challenger.model);
      await writeFile(join(modelDir, 'fraud-binary.json'), JSON.stringify(challenger.manifest));
      const service = await startWithPipes({ FRAUD_LOG_LEVEL: 'info', FRAUD_BINARY_SHADOW_MODEL_URI: join(modelDir, 'fraud-binary.json'), FRAUD_SHADOW_SHED_LOOP_BUSY: '1' });
      const stdout: Buffer[] = [...service.startupOutput];
      const stderr: Buffer[] = [];
      service.child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
      service.child.stdout.resume();
      service.child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      const client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
      try {
        await waitUntilServing(service);
        await waitFor('the shadow loaded', async () => (await client.getModelInfo()).shadows.some((shadow) => shadow.serving));
        await client.predictBatch(Array.from({ length: 3 }, (_, index) => ({ transactionId: 9_100_000 + index, customerId: 1, terminalId: 2, txAmount: 10, txTimeSeconds: 86_400 + index })));
        await waitFor('the failed shadow run counted', async () => (sample(await scrape(service.metricsPort), 'fraud_shadow_rows_shed_total{task="binary",reason="failed"}') ?? 0) === 3);
        service.child.kill('SIGTERM');
        assert.equal(await service.exited, 0);
        const all = [...lines(stdout), ...lines(stderr)];
        for (const line of all) assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
        assert.ok(all.some((line) => line.includes('shadow model run failed')), 'the failure is in the JSON log');
      } finally {
        client.close();
        service.child.kill('SIGKILL');
      }
    } finally {
      await rm(modelDir, { recursive: true, force: true });
    }
  });
});


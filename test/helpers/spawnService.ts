import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { SERVICE_NODE_FLAGS } from '../../src/nodeFlags.js';
import { MAIN_SCRIPT, bundled } from './paths.js';
import type { LogRecord } from './testService.js';
import { waitFor } from './waitFor.js';

export interface SpawnedService {
  readonly process: ChildProcess;
  readonly grpcPort: number;
  readonly metricsPort: number;
  readonly address: string;
  readonly logs: LogRecord[];
  readonly stderr: string[];
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  waitForLog(message: string, timeoutMs?: number): Promise<LogRecord>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

/** A free TCP port on 127.0.0.1 (for processes that must be told their port). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, rejectPort) => {
    const server = createServer();
    server.once('error', rejectPort);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        resolvePort(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  });
}

/**
 * `start` on a free port, and on another one when it fails: a port found free here can be taken
 * by another process of the machine before the server binds it. The error of the last attempt is
 * thrown; `start` must clean up after itself when it fails.
 */
export async function startOnFreePorts<T>(count: number, start: (ports: readonly number[]) => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const ports: number[] = [];
    while (ports.length < count) {
      const port = await freePort();
      if (!ports.includes(port)) ports.push(port);
    }
    try {
      return await start(ports);
    } catch (error) {
      if (attempt >= attempts) throw error;
    }
  }
}

/**
 * `node <flags> dist/src/main.js` as its own process, the way the image and `npm start` start it,
 * resolved once it listens (or has exited). Unless `env` names them, its ports are picked by the
 * system and read from its "listening" line: a port found free by this process and bound by the
 * child later can be taken in between by any other process of the machine. A service told to log
 * less than info prints no such line: it gets ports found free here, and is not waited for.
 */
export async function spawnService(env: Record<string, string> = {}): Promise<SpawnedService> {
  const saysListening = !QUIET_LEVELS.has((env.FRAUD_LOG_LEVEL ?? 'debug').toLowerCase());
  const ports = saysListening ? { grpc: '0', metrics: '0' } : { grpc: String(await freePort()), metrics: String(await freePort()) };
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, MAIN_SCRIPT], {
    env: {
      PATH: process.env.PATH ?? '',
      FRAUD_GRPC_HOST: '127.0.0.1',
      FRAUD_GRPC_PORT: ports.grpc,
      FRAUD_METRICS_HOST: '127.0.0.1',
      FRAUD_METRICS_PORT: ports.metrics,
      FRAUD_BINARY_MODEL_URI: bundled('fraud-binary'),
      FRAUD_SCENARIO_MODEL_URI: bundled('fraud-scenario'),
      FRAUD_LOG_LEVEL: 'debug',
      // Local development: GetModelInfo shows store URLs and raw errors (tests check them).
      FRAUD_MODEL_INFO_DETAILS: 'true',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogRecord[] = [];
  const stderr: string[] = [];
  let pending = '';
  let heardListening: (record: LogRecord) => void = () => undefined;
  const listening = new Promise<LogRecord>((resolveListening) => (heardListening = resolveListening));
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      const record = JSON.parse(line) as LogRecord;
      logs.push(record);
      if (record.msg === 'listening') heardListening(record);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  const exited = new Promise<number | string>((resolveExit) => {
    child.once('exit', (code, signal) => {
      resolveExit(code ?? signal ?? 'unknown');
    });
  });
  const started = saysListening ? await Promise.race([listening, exited.then(() => undefined)]) : undefined;
  const grpcPort = portOf(started, 'grpcPort', env.FRAUD_GRPC_PORT ?? ports.grpc);
  const metricsPort = portOf(started, 'metricsPort', env.FRAUD_METRICS_PORT ?? ports.metrics);
  return {
    process: child,
    grpcPort,
    metricsPort,
    address: `127.0.0.1:${grpcPort}`,
    logs,
    stderr,
    exited,
    waitForLog: (message, timeoutMs = 15_000) => waitFor(`log "${message}"`, () => logs.find((record) => record.msg === message), timeoutMs),
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Log levels (FRAUD_LOG_LEVEL) that leave the "listening" line out. */
const QUIET_LEVELS = new Set(['warn', 'error', 'fatal', 'silent']);

/** The port the "listening" line gives, or (no such line) the one the process was told. */
function portOf(listening: LogRecord | undefined, field: 'grpcPort' | 'metricsPort', told: string): number {
  const bound = listening?.[field];
  return typeof bound === 'number' ? bound : Number(told);
}

/** How a run of the service process ended, and what it wrote. */
export interface MainRun {
  readonly code: number | null;
  readonly stderr: string;
  readonly stdout: string;
}

/** `node dist/src/main.js` with PATH and `env` only, to its exit. */
export function runMain(env: Record<string, string>): Promise<MainRun> {
  return runMainProcess({ PATH: process.env.PATH ?? '', ...env }, false);
}

/**
 * A start of `node dist/src/main.js` with `env`, on 127.0.0.1 with ports the system picks,
 * to its exit: a start that gets as far as listening is stopped (SIGTERM), since a
 * service that starts without its model keeps running NOT_SERVING.
 */
export function runStartup(env: Record<string, string>): Promise<MainRun> {
  return runMainProcess(
    { PATH: process.env.PATH ?? '', FRAUD_GRPC_HOST: '127.0.0.1', FRAUD_GRPC_PORT: '0', FRAUD_METRICS_HOST: '127.0.0.1', FRAUD_METRICS_PORT: '0', ...env },
    true,
  );
}

function runMainProcess(env: NodeJS.ProcessEnv, stopOnceListening: boolean): Promise<MainRun> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [MAIN_SCRIPT], { env });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (stopOnceListening && stdout.includes('"msg":"listening"')) child.kill('SIGTERM');
    });
    child.once('exit', (code) => {
      resolveRun({ code, stderr, stdout });
    });
  });
}

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tool } from '../test/helpers/tools.js';

const run = promisify(execFile);

export interface GhzResult {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

interface GhzReport {
  rps: number;
  latencyDistribution: { percentage: number; latency: number }[] | null;
  statusCodeDistribution: Record<string, number>;
}

/** Loads `call` with ghz (a Go load generator, in its own process) and returns its summary. */
export async function ghz(address: string, descriptorSet: string, call: string, data: object | string, concurrency: number, total: number): Promise<GhzResult> {
  const dataArgs = typeof data === 'string' ? ['-D', data] : ['-d', JSON.stringify(data)];
  const { stdout } = await run(
    tool('ghz'),
    ['--insecure', '--protoset', descriptorSet, '--call', call, ...dataArgs, '-c', String(concurrency), '-n', String(total), '--connections', '1', '-O', 'json', address],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const report = JSON.parse(stdout) as GhzReport;
  const percentile = (percentage: number): number => (report.latencyDistribution?.find((entry) => entry.percentage === percentage)?.latency ?? Number.NaN) / 1e6;
  const errors = Object.entries(report.statusCodeDistribution).filter(([code]) => code !== 'OK').reduce((sum, [, count]) => sum + count, 0);
  if (errors > 0) throw new Error(`${call} at c=${concurrency}: ${errors} calls failed: ${JSON.stringify(report.statusCodeDistribution)}`);
  return { rps: report.rps, p50Ms: percentile(50), p99Ms: percentile(99), errors };
}

/** Waits until the gRPC server answers a health check (ghz cannot load a server that is not up). */
export async function waitForPort(address: string, descriptorSet: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await run(tool('grpcurl'), ['-plaintext', '-protoset', descriptorSet, '-d', '{"service":""}', address, 'grpc.health.v1.Health/Check']).then(({ stdout }) => {
        if (!stdout.includes('"SERVING"')) throw new Error('not serving yet');
      });
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((wake) => setTimeout(wake, 100));
    }
  }
}

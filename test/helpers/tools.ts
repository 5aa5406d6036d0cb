import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const INSTALL_HINTS: Readonly<Record<string, string>> = {
  grpcurl: 'go install github.com/fullstorydev/grpcurl/cmd/grpcurl@latest',
  'grpc-health-probe': 'go install github.com/grpc-ecosystem/grpc-health-probe@latest',
  minio: 'go install github.com/minio/minio@latest',
  helm: 'go install helm.sh/helm/v3/cmd/helm@latest',
  'redis-server': 'apt-get install redis-server (bash scripts/install-tools.sh)',
  promtool: 'go install -tags remove_all_sd github.com/prometheus/prometheus/cmd/promtool@v0.316.0 (bash scripts/install-tools.sh)',
};

let goBin: string | undefined;

/**
 * Path of a real command-line tool from PATH or Go's bin folder. A missing tool
 * fails the test with the command that installs it (scripts/test-all.sh does).
 */
export function tool(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  }
  goBin ??= join(execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).trim().split(':')[0] ?? '', 'bin');
  const candidate = join(goBin, name);
  if (existsSync(candidate)) return candidate;
  throw new Error(`${name} is not installed; install it with: ${INSTALL_HINTS[name] ?? name}`);
}

export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a tool to completion and returns its exit code and output (never throws on a non-zero exit). */
export function runTool(name: string, args: readonly string[], stdin?: string): Promise<ToolResult> {
  return new Promise((resolveRun, rejectRun) => {
    const child = spawn(tool(name), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', rejectRun);
    child.once('close', (code) => {
      resolveRun({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(stdin ?? '');
  });
}

import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const INSTALL_HINTS: Readonly<Record<string, string>> = {
  grpcurl: 'go install github.com/fullstorydev/grpcurl/cmd/grpcurl@latest',
  ghz: 'go install github.com/bojand/ghz/cmd/ghz@latest',
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

/**
 * Runs a tool to completion and returns its exit code and output (never throws on a non-zero exit).
 * `stdin`, when given, is written to it; otherwise its stdin is closed from the start.
 */
export function runTool(name: string, args: readonly string[], stdin?: string): Promise<ToolResult> {
  return runProgram(tool(name), args, { stdin });
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Written to the program's stdin, then closed; without it the program gets no stdin pipe at all. */
  readonly stdin?: string;
}

/** Runs a program (a path, or a name PATH resolves) to completion; like runTool. */
export function runProgram(program: string, args: readonly string[], options: RunOptions = {}): Promise<ToolResult> {
  return new Promise((resolveRun, rejectRun) => {
    const input = options.stdin;
    const where = { cwd: options.cwd, env: options.env };
    const child = input === undefined ? spawn(program, args, { ...where, stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(program, args, { ...where, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', rejectRun);
    child.once('close', (code) => {
      resolveRun({ code: code ?? -1, stdout, stderr });
    });
    if (child.stdin !== null) {
      // A program that exits before reading all its input (a refused handshake, a usage error)
      // closes the pipe: EPIPE then. Its exit code and output, not the write, are the answer.
      child.stdin.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EPIPE') rejectRun(error);
      });
      child.stdin.end(input);
    }
  });
}

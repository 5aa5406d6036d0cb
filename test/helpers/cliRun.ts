import { PassThrough, Readable } from 'node:stream';
import { Cli } from '../../client/cli.js';
import { FraudClient, type FraudClientOptions } from '../../client/fraudClient.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs fraud-cli in-process against `address`, with `stdin`, and collects its
 * output. `client` adds options to the client it builds (e.g. one attempt);
 * `env` adds to its environment (e.g. FRAUD_TOKEN).
 */
export async function runCli(address: string, argv: string[], stdin = '', client: Partial<FraudClientOptions> = {}, env: Record<string, string> = {}): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const code = await new Cli(
    { stdout, stderr, stdin: Readable.from([stdin]), env: { FRAUD_ADDRESS: address, ...env } },
    (settings) => new FraudClient({ ...client, address: settings.address, deadlineMs: settings.deadlineMs, tls: settings.tls, token: settings.token }),
  ).run(argv);
  return { code, stdout: out, stderr: err };
}

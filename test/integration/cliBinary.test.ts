import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_SCRIPT } from '../helpers/paths.js';
import { freePort } from '../helpers/spawnService.js';
import { startTestService, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

interface BinaryRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `node dist/client/bin.js <argv>` as its own process, the way `fraud-cli` runs once installed. */
function fraudCli(argv: readonly string[], env: Record<string, string> = {}): Promise<BinaryRun> {
  const child = spawn(process.execPath, [CLI_SCRIPT, ...argv], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolveRun, rejectRun) => {
    child.once('error', rejectRun);
    child.once('close', (code) => {
      resolveRun({ code, stdout, stderr });
    });
  });
}

describe('fraud-cli, the binary (dist/client/bin.js), and its exit codes', () => {
  let serving: TestService;
  let notServing: TestService;
  let folder: string;

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'fraud-cli-bin-'));
    serving = await startTestService();
    // A binary model that does not exist: the service runs, and is not serving.
    notServing = await startTestService({ FRAUD_BINARY_MODEL_URI: join(folder, 'missing.json'), FRAUD_MODEL_POLL_SECONDS: '0' }, false);
    await waitFor('the missing model refused', () => notServing.service.registry.status()[0]?.lastError);
  });

  after(async () => {
    await serving.stop();
    await notServing.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  it('should exit 0 for a call that succeeds (predict)', async () => {
    const run = await fraudCli(['predict', '--transaction-id', '5', '--customer-id', '9100001', '--terminal-id', '9200001', '--amount', '12.5', '--time-seconds', '3600', '--json'], {
      FRAUD_ADDRESS: serving.address,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { transactionId: string }).transactionId, '5');
  });

  it('health should exit 0 when the service is SERVING', async () => {
    const run = await fraudCli(['health', '--address', serving.address]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'server: SERVING\n');
  });

  it('health should exit 1 when the service runs but is NOT_SERVING', async () => {
    const run = await fraudCli(['health', '--address', notServing.address, '--service', 'fraud.v1.FraudService']);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, 'fraud.v1.FraudService: NOT_SERVING\n');
  });

  it('should exit 1 with a one-line hint naming --address and FRAUD_ADDRESS when nothing listens at the address', async () => {
    const port = await freePort();
    const run = await fraudCli(['health', '--deadline-ms', '2000'], { FRAUD_ADDRESS: `127.0.0.1:${port}` });
    assert.equal(run.code, 1);
    assert.equal(run.stderr, `error: cannot reach the service at 127.0.0.1:${port} (connection refused); give its address with --address HOST:PORT or FRAUD_ADDRESS\n`);
    assert.equal(run.stdout, '');
  });

  it('should exit 2 with a usage message for an unknown command, and for no command at all', async () => {
    const unknown = await fraudCli(['frobnicate'], { FRAUD_ADDRESS: serving.address });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^error: .*frobnicate.*\nrun fraud-cli --help for usage\n$/);
    const none = await fraudCli([], { FRAUD_ADDRESS: serving.address });
    assert.equal(none.code, 2);
    assert.match(none.stdout, /^usage: fraud-cli <command>/);
  });

  it('should exit 2 naming the option for a bad setting (--deadline-ms), before calling anything', async () => {
    const run = await fraudCli(['health', '--deadline-ms', '0'], { FRAUD_ADDRESS: serving.address });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^error: .*--deadline-ms/);
    assert.equal(run.stdout, '');
  });

  it('should exit 0 and print the usage for --help', async () => {
    const run = await fraudCli(['--help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /exit codes: 0 done/);
  });
});

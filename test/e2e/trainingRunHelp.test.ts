import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/packageRoot.js';

interface ScriptRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(script: string, argv: readonly string[]): Promise<ScriptRun> {
  // No package index: were the venv built, pip would fail at once instead of downloading 600 MB.
  const child = spawn('bash', [script, ...argv], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PIP_NO_INDEX: '1' },
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

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe('training/run help', () => {
  let folder: string;
  let script: string;

  before(async () => {
    // A copy of training/ without its venv: the script, its requirements and the sources.
    folder = await mkdtemp(join(tmpdir(), 'fraud-training-run-'));
    const training = join(folder, 'training');
    await mkdir(training);
    for (const name of ['run', 'pyproject.toml', 'constraints.txt']) await copyFile(join(packageRoot, 'training', name), join(training, name));
    await symlink(join(packageRoot, 'training', 'src'), join(training, 'src'));
    script = join(training, 'run');
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  for (const argv of [['--help'], ['-h'], ['package', '--help'], ['build-models', '-h']]) {
    it(`should answer ${argv.join(' ')} without building the venv`, async () => {
      const answer = await run(script, argv);
      assert.equal(answer.code, 0, answer.stderr);
      assert.match(answer.stdout, /^usage: fraud_training/);
      assert.doesNotMatch(answer.stderr, /building/);
      assert.equal(await exists(join(folder, 'training', '.venv')), false, 'a venv was built for help');
    });
  }

  it('should still build the venv for a command (here failing fast: no package index)', async () => {
    const answer = await run(script, ['build-models']);
    assert.notEqual(answer.code, 0);
    assert.match(answer.stderr, /training\/run: building .*\.venv with Python 3/);
  });
});

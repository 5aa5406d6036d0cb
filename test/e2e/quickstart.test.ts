import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../../src/packageRoot.js';
import { runProgram, runTool, tool } from '../helpers/tools.js';
import { waitFor } from '../helpers/waitFor.js';

/**
 * README's quickstart, followed the way a newcomer would: a fresh clone, the start command,
 * then every first-answer command exactly as README writes it, each answer checked against
 * the output README shows. The commands and outputs are read from README at run time, so
 * the test breaks when README's quickstart and the software part ways.
 *
 * The clone is of the repository's committed HEAD (what a newcomer gets). Its node_modules is
 * a symlink to this checkout's, installed from the same lockfile: `npm ci` on a fresh clone is
 * what `.ci/run` already does on every CI run, and repeating it here would cost another half
 * minute and the network (or an npm cache that `--offline` could trust), testing npm rather
 * than README. With node_modules present, the start command (scripts/start.sh) takes its
 * "already installed" path and does the rest a newcomer's does: the TypeScript build of the
 * clone, then the service on the bundled models. The one change to the commands: the port,
 * since other suites and services may hold 50051 on the same machine.
 */

const README_PORT = ':50051';
/** Probabilities may differ in their last bits between CPUs; README shows four decimals. */
const NUMBER_TOLERANCE = 1e-3;
/** A fresh clone builds the whole TypeScript project before the service starts. */
const START_TIMEOUT_MS = 300_000;

interface Command {
  readonly text: string;
  /** The comment lines README prints under a command: its output, line by line. */
  readonly output: string[];
}

interface Block {
  readonly lang: string;
  readonly body: string;
}

function quickstartSection(readme: string): string {
  const start = readme.indexOf('\n## Quickstart\n');
  assert.ok(start >= 0, 'README has no "## Quickstart" section');
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

function fencedBlocks(section: string): Block[] {
  return [...section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((match) => ({ lang: match[1] ?? '', body: match[2] ?? '' }));
}

/**
 * A bash block's commands, split as a shell reads them: a command goes on while a quote is
 * open or its line ends in a backslash; `#` outside quotes starts a comment; lines that are
 * only a comment, right under a command, are that command's output.
 */
function shellCommands(body: string): Command[] {
  const commands: { text: string; output: string[] }[] = [];
  let pending = '';
  let quote: string | undefined;
  for (const line of body.split('\n')) {
    if (pending === '' && line.trim().startsWith('#')) {
      commands.at(-1)?.output.push(line.trim().replace(/^#\s*/, ''));
      continue;
    }
    let code = '';
    for (let index = 0; index < line.length; index += 1) {
      const char = line.charAt(index);
      if (quote === undefined && char === '#' && (index === 0 || /\s/.test(line.charAt(index - 1)))) break;
      if (quote === undefined && (char === "'" || char === '"')) quote = char;
      else if (char === quote) quote = undefined;
      code += char;
    }
    code = code.trimEnd();
    if (quote === undefined && code.endsWith('\\')) {
      pending += `${code.slice(0, -1)} `;
      continue;
    }
    pending += quote === undefined ? code : `${code}\n`;
    if (quote !== undefined) continue;
    if (pending.trim() !== '') commands.push({ text: pending.trim(), output: [] });
    pending = '';
  }
  assert.equal(quote, undefined, `a quote is left open in README's block:\n${body}`);
  return commands;
}

/** Numbers standing alone in a line (not the digits of a version or a hash). */
const NUMBER = /(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])/g;

/** Checks an output line against README's: the same words, and the same numbers within the tolerance. */
function assertLineLike(actual: string, documented: string, what: string): void {
  const shape = (line: string): string => line.trim().replace(NUMBER, '<n>').replace(/\s+/g, ' ');
  assert.equal(shape(actual), shape(documented), `${what}: README shows "${documented}", the service printed "${actual}"`);
  const numbers = (line: string): number[] => [...line.matchAll(NUMBER)].map((match) => Number(match[0]));
  const expected = numbers(documented);
  numbers(actual).forEach((value, index) => {
    assert.ok(Math.abs(value - (expected[index] ?? Number.NaN)) <= NUMBER_TOLERANCE, `${what}: ${value} where README shows ${expected[index]}`);
  });
}

/** Checks a JSON answer against README's: the same fields, strings equal, numbers within the tolerance. */
function assertJsonLike(actual: unknown, documented: unknown, path: string): void {
  if (typeof documented === 'number') {
    assert.equal(typeof actual, 'number', `${path}: README shows a number`);
    assert.ok(Math.abs((actual as number) - documented) <= NUMBER_TOLERANCE, `${path}: ${String(actual)} where README shows ${documented}`);
  } else if (Array.isArray(documented)) {
    assert.ok(Array.isArray(actual) && actual.length === documented.length, `${path}: README shows ${documented.length} items`);
    documented.forEach((item, index) => { assertJsonLike((actual as unknown[])[index], item, `${path}[${index}]`); });
  } else if (typeof documented === 'object' && documented !== null) {
    assert.ok(typeof actual === 'object' && actual !== null, `${path}: README shows an object`);
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(documented).sort(), `${path}: the fields README shows`);
    for (const [key, value] of Object.entries(documented)) assertJsonLike((actual as Record<string, unknown>)[key], value, `${path}.${key}`);
  } else {
    assert.equal(actual, documented, path);
  }
}

describe("README's quickstart, from a fresh clone to the first answers", function () {
  this.timeout(START_TIMEOUT_MS + 60_000);

  let clone: string;
  let blocks: Block[];
  let grpcPort: number;
  let env: NodeJS.ProcessEnv;
  let start: ChildProcess | undefined;
  let startOutput = '';
  let startExit: Promise<number | string> | undefined;

  before(() => {
    clone = mkdtempSync(join(tmpdir(), 'fraud-quickstart-'));
    // file:// and --depth 1: only the commit a newcomer checks out, also from a shallow CI checkout.
    execFileSync('git', ['clone', '--quiet', '--depth', '1', pathToFileURL(packageRoot).href, clone]);
    symlinkSync(join(packageRoot, 'node_modules'), join(clone, 'node_modules'));
    blocks = fencedBlocks(quickstartSection(readFileSync(join(clone, 'README.md'), 'utf8')));
  });

  after(async () => {
    if (start?.pid !== undefined && start.exitCode === null && start.signalCode === null) {
      // npm, the start script and the service are one process group (spawned detached).
      process.kill(-start.pid, 'SIGTERM');
      await startExit;
    }
    rmSync(clone, { recursive: true, force: true });
  });

  it('should start the service with README\'s start command and reach health SERVING', async () => {
    const commands = blocks.filter((block) => block.lang === 'bash').flatMap((block) => shellCommands(block.body));
    const startCommand = commands.find((command) => command.text === 'npm start');
    assert.ok(startCommand, `README's quickstart has no "npm start": ${commands.map((command) => command.text).join(' | ')}`);
    assert.ok(
      commands.some((command) => command.text === 'npm test'),
      'README\'s quickstart names the test command too',
    );

    const toolDirs = ['grpcurl', 'grpc-health-probe'].map((name) => dirname(tool(name)));
    env = {
      PATH: [...toolDirs, process.env.PATH ?? ''].join(':'),
      HOME: process.env.HOME ?? tmpdir(),
      FRAUD_GRPC_HOST: '127.0.0.1',
      // Ports the system picks, read from the "listening" line: one found free here could be taken before the service binds it.
      FRAUD_GRPC_PORT: '0',
      FRAUD_METRICS_HOST: '127.0.0.1',
      FRAUD_METRICS_PORT: '0',
    };
    const child = spawn('bash', ['-c', startCommand.text], { cwd: clone, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    start = child;
    child.stdout.on('data', (chunk: Buffer) => (startOutput += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (startOutput += chunk.toString('utf8')));
    startExit = new Promise((resolveExit) => child.once('exit', (code, signal) => { resolveExit(code ?? signal ?? 'unknown'); }));

    grpcPort = await waitFor(
      'the "listening" line of the service README started',
      () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`"npm start" exited (${child.exitCode ?? child.signalCode}):\n${startOutput.slice(-3000)}`);
        const listening = startOutput.split('\n').find((line) => line.includes('"msg":"listening"'));
        return listening === undefined ? undefined : (JSON.parse(listening) as { grpcPort: number }).grpcPort;
      },
      START_TIMEOUT_MS,
      250,
    );
    env.FRAUD_ADDRESS = `localhost:${grpcPort}`;
    await waitFor(
      'health SERVING from the service README started',
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`"npm start" exited (${child.exitCode ?? child.signalCode}):\n${startOutput.slice(-3000)}`);
        return (await runTool('grpc-health-probe', [`-addr=127.0.0.1:${grpcPort}`])).code === 0;
      },
      START_TIMEOUT_MS,
      250,
    );
    assert.match(startOutput, /"msg":"serving"/, 'README says the service logs {"msg":"serving",…}');
  });

  it('should answer every first-answer command as README shows', async function () {
    if (start === undefined) this.skip();
    let ran = 0;
    for (const [index, block] of blocks.entries()) {
      if (block.lang !== 'bash') continue;
      const commands = shellCommands(block.body).filter((command) => command.text !== 'npm start' && command.text !== 'npm test');
      for (const [position, command] of commands.entries()) {
        const text = command.text.replaceAll(README_PORT, `:${grpcPort}`);
        const result = await runProgram('bash', ['-c', text], { cwd: clone, env });
        ran += 1;
        assert.equal(result.code, 0, `${command.text}\nexited ${result.code}:\n${result.stdout}${result.stderr}`);
        if (command.output.length > 0) {
          const lines = result.stdout.trimEnd().split('\n');
          assert.equal(lines.length, command.output.length, `${command.text}: README shows ${command.output.length} lines, got:\n${result.stdout}`);
          command.output.forEach((documented, line) => { assertLineLike(lines[line] ?? '', documented, command.text); });
        }
        // A JSON block right under a bash block is the answer of its last command.
        const next = blocks[index + 1];
        if (position === commands.length - 1 && next?.lang === 'json') {
          assertJsonLike(JSON.parse(result.stdout), JSON.parse(next.body), 'answer');
        }
      }
    }
    assert.ok(ran >= 4, `README's quickstart shows only ${ran} first-answer commands`);
  });
});

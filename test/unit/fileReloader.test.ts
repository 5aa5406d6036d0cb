import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/envValues.js';
import { BearerTokens } from '../../src/security/bearerTokens.js';
import { FileReloader } from '../../src/security/fileReloader.js';

describe('FileReloader (the rotation of certificate and token files)', () => {
  let dir: string;
  let first: string;
  let second: string;
  const loaded: string[] = [];
  const refused: string[] = [];
  let reloader: FileReloader<string>;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fraud-reload-'));
    first = join(dir, 'a');
    second = join(dir, 'b');
    await writeFile(first, 'one');
    await writeFile(second, 'one');
    loaded.length = 0;
    refused.length = 0;
    // Both files must hold the same word, as a certificate and its key must match.
    reloader = new FileReloader({
      files: [
        { variable: 'FRAUD_A', path: first },
        { variable: 'FRAUD_B', path: second },
      ],
      intervalMs: 60_000,
      initial: [Buffer.from('one'), Buffer.from('one')],
      parse: ([a, b]) => {
        if (String(a) !== String(b)) throw new ConfigError('FRAUD_B', `${String(b)} does not match ${String(a)}`);
        return String(a);
      },
      onLoaded: (value) => loaded.push(value),
      onRefused: (error) => refused.push(error.message),
    });
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('should hand over nothing while the files are unchanged', async () => {
    await reloader.check();
    await reloader.check();
    assert.deepEqual(loaded, []);
    assert.deepEqual(refused, []);
  });

  it('should hand over changed files that pass, once', async () => {
    await writeFile(first, 'two');
    await writeFile(second, 'two');
    await reloader.check();
    await reloader.check();
    assert.deepEqual(loaded, ['two']);
  });

  it('should not report files caught half replaced, and take them once both are new', async () => {
    await writeFile(first, 'two');
    await reloader.check();
    await writeFile(second, 'two');
    await reloader.check();
    assert.deepEqual(refused, []);
    assert.deepEqual(loaded, ['two']);
  });

  it('should report bad files once, however often they are read, and again when they change to other bad ones', async () => {
    await writeFile(second, 'bad');
    for (let check = 0; check < 5; check++) await reloader.check();
    assert.deepEqual(refused, ['FRAUD_B: bad does not match one']);
    await writeFile(second, 'worse');
    for (let check = 0; check < 3; check++) await reloader.check();
    assert.deepEqual(refused, ['FRAUD_B: bad does not match one', 'FRAUD_B: worse does not match one']);
    assert.deepEqual(loaded, []);
  });

  it('should report a file that cannot be read, naming its variable, and recover when it is back', async () => {
    await rm(first);
    await reloader.check();
    await reloader.check();
    assert.equal(refused.length, 1);
    assert.match(refused[0] ?? '', /^FRAUD_A: cannot read .+ \(ENOENT\)$/);
    await writeFile(first, 'one');
    await reloader.check();
    assert.deepEqual(loaded, []);
  });
});

describe('BearerTokens (FRAUD_AUTH_TOKENS_FILE)', () => {
  const tokens = BearerTokens.parse('# who token\nchargebacks aaaaaaaaaaaaaaaa1\n\n  payments   bbbbbbbbbbbbbbbb2  \nchargebacks cccccccccccccccc3\n');

  it('should find the principal of each token, a principal with two tokens included', () => {
    assert.equal(tokens.principalOf('aaaaaaaaaaaaaaaa1'), 'chargebacks');
    assert.equal(tokens.principalOf('bbbbbbbbbbbbbbbb2'), 'payments');
    assert.equal(tokens.principalOf('cccccccccccccccc3'), 'chargebacks');
    assert.equal(tokens.size, 3);
  });

  it('should find no principal for a token that is not in the file, a prefix or an extension of one', () => {
    for (const token of ['aaaaaaaaaaaaaaaa', 'aaaaaaaaaaaaaaaa12', 'AAAAAAAAAAAAAAAA1', '', 'chargebacks']) assert.equal(tokens.principalOf(token), undefined, token);
  });

  const refusals: [string, RegExp][] = [
    ['', /holds no tokens/],
    ['# only a comment\n', /holds no tokens/],
    ['chargebacks\n', /^FRAUD_AUTH_TOKENS_FILE: line 1: expected "<principal> <token>"$/],
    ['a aaaaaaaaaaaaaaaa1 extra\n', /line 1: expected/],
    ['a aaaaaaaaaaaaaaa\n', /^FRAUD_AUTH_TOKENS_FILE: line 1: the token of a is shorter than 16 characters$/],
    ['a aaaaaaaaaaaaaaaa1\nb aaaaaaaaaaaaaaaa1\n', /^FRAUD_AUTH_TOKENS_FILE: line 2: the same token as line 1$/],
    ['a aaaaaaaa"aaaaaaaa1\n', /line 1: the token of a has characters a bearer token cannot carry/],
  ];
  for (const [text, message] of refusals) {
    it(`should refuse ${JSON.stringify(text)} without showing a token`, () => {
      assert.throws(
        () => BearerTokens.parse(text),
        (error: unknown) => error instanceof ConfigError && message.test(error.message) && !/aaaaaaaa/.test(error.message),
      );
    });
  }
});

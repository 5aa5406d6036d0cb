import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { createServer, type Server as TlsServer } from 'node:tls';
import { LOCAL_SERVER_NAMES, TestCertificateAuthority } from '../helpers/certificates.js';
import { runCli, type CliRun } from '../helpers/cliRun.js';
import { LAKEFS_ACCESS_KEY_ID, LAKEFS_SECRET_ACCESS_KEY, LAKEFS_VERSION, LakefsServer } from '../helpers/lakefs.js';
import { createModelRepository, versionFiles } from '../helpers/modelStore.js';
import { answerWith, BETTER, FAIR, QualityStandIn } from '../helpers/qualityStandIn.js';
import { freePort } from '../helpers/spawnService.js';

const END = new Date('2026-12-07T00:00:00Z');
const MANIFEST = 'models/fraud-binary.json';
const CREDENTIALS = { LAKEFS_ACCESS_KEY_ID, LAKEFS_SECRET_ACCESS_KEY };

interface Prepared {
  readonly repository: string;
  /** main's head: the commit the champion was read from. */
  readonly main: string;
  /** candidate's head: the commit the challenger was read from. */
  readonly candidate: string;
}

// Promotion and rollback against a real lakeFS; the service's quality RPC is played by a
// gRPC stand-in (test/helpers/qualityStandIn.ts) answering for main's and candidate's commits.
describe(`fraud-cli models promote and rollback against a real lakeFS ${LAKEFS_VERSION}`, function () {
  this.timeout(120_000);
  let lakefs: LakefsServer;
  let standIn: QualityStandIn;
  let repositories = 0;

  const cli = (argv: string[], env: Record<string, string> = CREDENTIALS): Promise<CliRun> => runCli(standIn.address, argv, '', { retry: { attempts: 1 } }, env);
  const lakefsOptions = (repository: string): string[] => ['--lakefs-endpoint', lakefs.endpoint, '--repository', repository];
  const noSecret = (run: CliRun): void => {
    assert.ok(!`${run.stdout}${run.stderr}`.includes(LAKEFS_SECRET_ACCESS_KEY), 'the secret was printed');
  };

  /** A repository whose main serves 1.0.0 and whose candidate branch holds 2.0.0, committed; the stand-in shadows candidate. */
  async function prepare(): Promise<Prepared> {
    const repository = `promote-${++repositories}`;
    const main = await createModelRepository(lakefs, repository);
    await lakefs.createBranch(repository, 'candidate', 'main');
    await lakefs.upload(repository, 'candidate', versionFiles('models', 'binary-zipmap-f32-v2'));
    const candidate = await lakefs.commit(repository, 'candidate', 'fraud-binary 2.0.0');
    standIn.serve(main, candidate);
    standIn.quality = answerWith({ [main]: FAIR, [candidate]: BETTER }, END);
    return { repository, main, candidate };
  }

  before(async () => {
    lakefs = await LakefsServer.start();
    standIn = await QualityStandIn.start();
  });
  after(async () => {
    await standIn.stop();
    await lakefs.stop();
  });

  it('promote should merge the candidate commit compared into main when the gate passes, and print the merge commit', async () => {
    const { repository, main, candidate } = await prepare();
    const run = await cli(['models', 'promote', ...lakefsOptions(repository)]);
    assert.equal(run.code, 0, run.stderr);
    noSecret(run);
    assert.match(run.stdout, /\ngate: PASSED /);
    const merged = new RegExp(`\\nmerged candidate \\(${candidate}\\) into main: merge commit ([0-9a-f]{64})\\n$`).exec(run.stdout)?.[1];
    assert.ok(merged !== undefined, run.stdout);
    assert.equal(await lakefs.head(repository, 'main'), merged);
    // A merge commit: main's previous head first, the candidate second.
    const commit = await lakefs.commitOf(repository, merged);
    assert.deepEqual(commit.parents, [main, candidate]);
    assert.match(commit.message, /^promote fraud-binary /);
    assert.deepEqual(await lakefs.object(repository, 'main', MANIFEST), await lakefs.object(repository, candidate, MANIFEST));
    assert.equal((await lakefs.object(repository, 'main', MANIFEST) as { version: string }).version, '2.0.0');
    // The candidate branch is where it was.
    assert.equal(await lakefs.head(repository, 'candidate'), candidate);
  });

  it('rollback should revert main\'s merge, restoring the previous models, and print the old and new heads', async () => {
    const { repository, main } = await prepare();
    assert.equal((await cli(['models', 'promote', ...lakefsOptions(repository)])).code, 0);
    const promoted = await lakefs.head(repository, 'main');
    const run = await cli(['models', 'rollback', ...lakefsOptions(repository)]);
    assert.equal(run.code, 0, run.stderr);
    noSecret(run);
    const head = await lakefs.head(repository, 'main');
    assert.notEqual(head, promoted);
    assert.equal(run.stdout, `rolled back main: head was ${promoted} ("${(await lakefs.commitOf(repository, promoted)).message}"), now ${head} (the objects of ${main})\n`);
    assert.deepEqual((await lakefs.commitOf(repository, head)).parents, [promoted]);
    assert.deepEqual(await lakefs.object(repository, 'main', MANIFEST), await lakefs.object(repository, main, MANIFEST));
    assert.equal((await lakefs.object(repository, 'main', MANIFEST) as { version: string }).version, '1.0.0');
  });

  it('promote should merge nothing and exit 1 when the gate fails, saying why', async () => {
    const { repository, main } = await prepare();
    const run = await cli(['models', 'promote', ...lakefsOptions(repository), '--min-frauds', '201']);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /\n {2}- only 200 frauds with a known outcome for the champion, need 201 \(--min-frauds\)\n/);
    assert.equal(run.stderr, 'refused: keep the champion; 2 gate conditions failed; nothing merged (--force merges without the gate)\n');
    assert.equal(await lakefs.head(repository, 'main'), main);
  });

  it('promote should refuse, merging nothing, when the candidate branch moved since it was scored', async () => {
    const { repository, main, candidate } = await prepare();
    await lakefs.upload(repository, 'candidate', versionFiles('models', 'binary-zipmap-f32'));
    const moved = await lakefs.commit(repository, 'candidate', 'fraud-binary 1.0.0 again, not scored');
    const run = await cli(['models', 'promote', ...lakefsOptions(repository)]);
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr,
      `refused: the candidate branch moved since it was scored: candidate is at ${moved}, the challenger compared is ${candidate}; ` +
        'compare again once the service shadows the new commit and has outcomes for it\n',
    );
    assert.equal(await lakefs.head(repository, 'main'), main);
  });

  it('promote should refuse a challenger whose revision is not a lakeFS commit id (it cannot be matched to the branch)', async () => {
    const { repository, main } = await prepare();
    standIn.serve(main, '"0123456789abcdef0123456789abcdef"');
    standIn.quality = answerWith({ [main]: FAIR, '"0123456789abcdef0123456789abcdef"': BETTER }, END);
    const run = await cli(['models', 'promote', ...lakefsOptions(repository)]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^refused: the challenger's revision "0123456789abcdef0123456789abcdef" is not a lakeFS commit id/);
    assert.equal(await lakefs.head(repository, 'main'), main);
  });

  it('promote --dry-run should check everything and merge nothing', async () => {
    const { repository, main, candidate } = await prepare();
    const run = await cli(['models', 'promote', ...lakefsOptions(repository), '--dry-run']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, `dry run: would merge candidate (${candidate}) into main (${main})\n`);
    assert.equal(await lakefs.head(repository, 'main'), main);
  });

  it('promote --force should merge past a failed gate, loudly', async () => {
    const { repository, main, candidate } = await prepare();
    const run = await cli(['models', 'promote', ...lakefsOptions(repository), '--min-frauds', '1000', '--force', '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^WARNING: --force: merging although the gate FAILED:\nWARNING: {3}- only 200 frauds/);
    const answer = JSON.parse(run.stdout) as { promotion: { merged: boolean; forced: boolean; mergeCommit: string; previousHead: string } };
    assert.deepEqual({ ...answer.promotion, mergeCommit: undefined }, { merged: true, forced: true, sourceCommit: candidate, previousHead: main, mergeCommit: undefined });
    assert.equal(await lakefs.head(repository, 'main'), answer.promotion.mergeCommit);
    assert.match((await lakefs.commitOf(repository, answer.promotion.mergeCommit)).message, /\(FORCED past a failed gate\)$/);
  });

  it('rollback should refuse clearly when the branch has no parent commit', async () => {
    const repository = `promote-${++repositories}`;
    await lakefs.createRepository(repository);
    const first = await lakefs.head(repository, 'main');
    const run = await cli(['models', 'rollback', ...lakefsOptions(repository)]);
    assert.equal(run.code, 1);
    assert.equal(run.stderr, `refused: main has no parent commit to go back to (its head ${first} is the repository's first commit)\n`);
    assert.equal(await lakefs.head(repository, 'main'), first);
  });

  it('wrong credentials should fail in one line naming LAKEFS_ACCESS_KEY_ID, never printing the secret', async () => {
    const { repository, main } = await prepare();
    const wrong = 'wrong-secret-do-not-print-4c1e';
    for (const command of ['promote', 'rollback']) {
      const run = await cli(['models', command, ...lakefsOptions(repository)], { LAKEFS_ACCESS_KEY_ID, LAKEFS_SECRET_ACCESS_KEY: wrong });
      assert.equal(run.code, 1, command);
      assert.equal(run.stderr, `error: lakeFS at ${lakefs.endpoint} refused the credentials (401): check LAKEFS_ACCESS_KEY_ID and LAKEFS_SECRET_ACCESS_KEY\n`);
      assert.ok(!`${run.stdout}${run.stderr}`.includes(wrong), `${command} printed the secret`);
    }
    assert.equal(await lakefs.head(repository, 'main'), main);
  });

  it('should exit 2 without the key pair in the environment, or with credentials in the endpoint URL, before any call', async () => {
    const { repository } = await prepare();
    const run = await cli(['models', 'rollback', ...lakefsOptions(repository)], { LAKEFS_ACCESS_KEY_ID });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^error: set LAKEFS_ACCESS_KEY_ID and LAKEFS_SECRET_ACCESS_KEY to a lakeFS access key pair/);
    const inUrl = await cli(['models', 'rollback', '--lakefs-endpoint', `http://key:${LAKEFS_SECRET_ACCESS_KEY}@127.0.0.1:1`, '--repository', repository]);
    assert.equal(inUrl.code, 2);
    assert.match(inUrl.stderr, /^error: --lakefs-endpoint must not hold credentials/);
    noSecret(inUrl);
    assert.match((await cli(['models', 'promote', '--repository', repository])).stderr, /^error: --lakefs-endpoint URL is required/);
  });

  it('should reach an https endpoint with --lakefs-ca-file, and name the option when the certificate is not trusted', async () => {
    // lakeFS serves TLS itself too, but the helper's own calls (fetch) cannot be given a private CA:
    // a TLS terminator in front of the same lakeFS tests the CLI's side of the handshake.
    const authority = await TestCertificateAuthority.createTemporary();
    const issued = await authority.issue('lakefs', { commonName: '127.0.0.1', altNames: LOCAL_SERVER_NAMES, extendedKeyUsage: ['serverAuth'] });
    const lakefsPort = Number(new URL(lakefs.endpoint).port);
    const terminator: TlsServer = createServer({ cert: issued.cert, key: issued.key }, (socket) => {
      const upstream = connect(lakefsPort, '127.0.0.1');
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => terminator.listen(0, '127.0.0.1', resolve));
    try {
      const { repository, main } = await prepare();
      const address = terminator.address();
      const https = `https://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
      const trusted = await cli(['models', 'rollback', '--lakefs-endpoint', https, '--repository', repository, '--lakefs-ca-file', authority.certificate.certFile, '--dry-run']);
      assert.equal(trusted.code, 0, trusted.stderr);
      assert.match(trusted.stderr, new RegExp(`^dry run: would revert main's head ${main} `));
      const untrusted = await cli(['models', 'rollback', '--lakefs-endpoint', https, '--repository', repository]);
      assert.equal(untrusted.code, 1);
      assert.match(untrusted.stderr, new RegExp(`^error: cannot reach lakeFS at ${https} \\([A-Z_]+\\); for a private CA give --lakefs-ca-file PATH\\n$`));
      const unreadable = await cli(['models', 'rollback', '--lakefs-endpoint', https, '--repository', repository, '--lakefs-ca-file', '/no/such/ca.crt']);
      assert.equal(unreadable.code, 2);
      assert.match(unreadable.stderr, /^error: cannot read --lakefs-ca-file \/no\/such\/ca\.crt \(ENOENT\)\n/);
      assert.equal(await lakefs.head(repository, 'main'), main);
    } finally {
      await new Promise((resolve) => terminator.close(resolve));
      await authority.dispose();
    }
  });

  it('should name lakeFS when it cannot be reached, and the repository when it does not exist', async () => {
    const port = await freePort();
    const down = await cli(['models', 'rollback', '--lakefs-endpoint', `http://127.0.0.1:${port}`, '--repository', 'fraud-models']);
    assert.equal(down.code, 1);
    assert.equal(down.stderr, `error: cannot reach lakeFS at http://127.0.0.1:${port} (ECONNREFUSED)\n`);
    const missing = await cli(['models', 'rollback', '--lakefs-endpoint', `${lakefs.endpoint}/api/v1/`, '--repository', 'no-such-repository']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`^error: lakeFS at ${lakefs.endpoint}: branch main of repository no-such-repository not found \\(.+\\)\\n$`));
  });
});

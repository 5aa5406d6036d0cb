import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FraudCallError, FraudClient } from '../../client/fraudClient.js';
import { LAKEFS_SECRET_ACCESS_KEY, LAKEFS_VERSION, LakefsServer } from '../helpers/lakefs.js';
import { createModelRepository, versionFiles } from '../helpers/modelStore.js';
import { scrape } from '../helpers/scrape.js';
import { checksGoneBy } from '../helpers/serviceObservers.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { transaction } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

describe(`models from a real lakeFS ${LAKEFS_VERSION}: start-up and refs`, function () {
  this.timeout(120_000);
  let lakefs: LakefsServer;
  let repositories = 0;
  const services: SpawnedService[] = [];
  const clients: FraudClient[] = [];
  const cacheDirs: string[] = [];

  /** A service reading `env` and a client for it, both closed after the test. */
  async function start(env: Record<string, string>): Promise<{ service: SpawnedService; client: FraudClient }> {
    const service = await spawnService(env);
    const client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
    services.push(service);
    clients.push(client);
    return { service, client };
  }

  /** A fresh repository per test, so no test sees another's commits. */
  async function repository(): Promise<{ name: string; commit: string }> {
    const name = `fraud-start-${++repositories}`;
    return { name, commit: await createModelRepository(lakefs, name) };
  }

  before(async () => {
    lakefs = await LakefsServer.start();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(services.splice(0).map((service) => service.kill()));
    // Only once no service writes to them any more.
    await Promise.all(cacheDirs.splice(0).map((folder) => rm(folder, { recursive: true, force: true })));
    // A test that stopped lakeFS must not leave it down for the next one.
    lakefs.thaw();
    if (!(await lakefs.healthy())) await lakefs.resume();
  });

  after(async () => {
    await lakefs.stop();
  });

  it('should start cold from the commit main points to, never serve what is staged on main, and report the commit id', async () => {
    const { name, commit } = await repository();
    // Uploaded to main but not committed: lakeFS's gateway shows it through the branch name.
    await lakefs.upload(name, 'main', versionFiles('models', 'binary-zipmap-f32-v2'));
    const { service, client } = await start(lakefs.env(name));
    const serving = await service.waitForLog('serving');
    console.log(`      cold start from lakeFS: SERVING ${String(serving.uptimeMs)} ms after process start, at commit ${commit.slice(0, 12)}…`);
    const answer = await client.predict(transaction({ txAmount: 250 }));
    assert.equal(answer.model?.version, '1.0.0', 'the staged 2.0.0 must not be served');
    assert.equal(answer.model.revision, commit);
    assert.equal((await client.predictScenario(transaction({ txAmount: 250 }))).model?.revision, commit);
    // Several polls later, still the commit: the staged version never serves.
    await checksGoneBy(client, 'binary', 3);
    assert.equal((await client.predict(transaction())).model?.version, '1.0.0');
    const [binary] = (await client.getModelInfo()).models;
    assert.equal(binary?.source, `s3://${name}/main/models/fraud-binary.json`);
    assert.equal(binary.model?.revision, commit);
    // Committing the staged upload on main makes it a version, and it serves.
    const committed = await lakefs.commit(name, 'main', 'commit the staged 2.0.0');
    await waitFor('2.0.0 at the new commit', async () => (await client.predict(transaction())).model?.revision === committed, 10_000);
    assert.equal((await client.predict(transaction())).model?.version, '2.0.0');
  });

  it('should follow a tag, and move with it when it is recreated at another commit', async () => {
    const { name, commit } = await repository();
    await lakefs.tag(name, 'serving', commit);
    const { service, client } = await start(lakefs.env(name, 'serving'));
    await service.waitForLog('serving');
    assert.equal((await client.predict(transaction())).model?.revision, commit);
    const next = await lakefs.publish(name, versionFiles('models', 'binary-zipmap-f32-v2'), 'fraud-binary 2.0.0');
    await lakefs.deleteTag(name, 'serving');
    await lakefs.tag(name, 'serving', next);
    await waitFor('the commit the tag moved to', async () => (await client.predict(transaction())).model?.revision === next, 10_000);
    assert.equal((await client.predict(transaction())).model?.version, '2.0.0');
  });

  it('should serve a pinned commit id and never ask lakeFS about it again', async () => {
    const { name, commit } = await repository();
    // The binary model pinned to a commit, the scenario model following main: its polls are the clock.
    const { service, client } = await start(lakefs.env(name, 'main', { FRAUD_BINARY_MODEL_URI: `s3://${name}/${commit}/models/fraud-binary.json` }));
    await service.waitForLog('serving');
    await service.waitForLog('model polling is off: the source cannot change or polling is disabled');
    assert.equal((await client.predict(transaction())).model?.revision, commit);
    // Resolving the pin asked for a branch, a tag and then the commit; nothing else asks for tags or commits.
    const pinLookups = async (): Promise<number> => (await lakefs.apiCalls('GetTag')) + (await lakefs.apiCalls('GetCommit'));
    const lookupsAfterPin = await pinLookups();
    assert.ok(lookupsAfterPin >= 2, `lakeFS counted ${lookupsAfterPin} tag and commit lookups for the pin`);
    const branchLookups = await lakefs.apiCalls('GetBranch');
    await lakefs.publish(name, versionFiles('models', 'binary-zipmap-f32-v2'), 'fraud-binary 2.0.0 on main');
    await checksGoneBy(client, 'multiclass', 4);
    const polls = (await lakefs.apiCalls('GetBranch')) - branchLookups;
    console.log(`      pinned: lakeFS answered ${polls} branch lookups since the pin was known (the scenario model's polls), ${(await pinLookups()) - lookupsAfterPin} tag or commit lookups`);
    assert.ok(polls >= 4, `${polls} branch lookups`);
    assert.equal(await pinLookups(), lookupsAfterPin, 'the pinned commit is not polled');
    const answer = await client.predict(transaction());
    assert.equal(answer.model?.version, '1.0.0');
    assert.equal(answer.model.revision, commit);
  });

  it('should serve the cached copy when lakeFS is down at start-up, then follow lakeFS when it is back', async () => {
    const { name, commit } = await repository();
    const cacheDir = await mkdtemp(join(tmpdir(), 'fraud-cache-'));
    cacheDirs.push(cacheDir);
    const first = await start(lakefs.env(name, 'main', { FRAUD_MODEL_CACHE_DIR: cacheDir }));
    await first.service.waitForLog('serving');
    await waitFor('both models cached', async () => (await readdir(cacheDir).catch(() => [])).length === 2);
    await waitFor('the binary cache complete', async () => (await readdir(join(cacheDir, 'binary'))).includes('current.json'));
    await waitFor('the scenario cache complete', async () => (await readdir(join(cacheDir, 'multiclass'))).includes('current.json'));
    await first.service.kill();

    await lakefs.kill();
    const { service, client } = await start(lakefs.env(name, 'main', { FRAUD_MODEL_CACHE_DIR: cacheDir }));
    const serving = await service.waitForLog('serving');
    console.log(`      start from the cache with lakeFS down: SERVING ${String(serving.uptimeMs)} ms after process start`);
    assert.ok(service.logs.some((record) => record.msg === 'model source unavailable: serving the cached copy of the last good version'));
    const answer = await client.predict(transaction({ txAmount: 250 }));
    assert.equal(answer.model?.revision, commit);
    assert.match(String(service.logs.find((record) => record.msg === 'model source check failed; serving model unchanged')?.error), /unreachable/);

    await lakefs.resume();
    await waitFor('lakeFS reachable again', () => service.logs.some((record) => record.msg === 'model source reachable again'), 20_000);
    const next = await lakefs.publish(name, versionFiles('models', 'binary-zipmap-f32-v2'), 'fraud-binary 2.0.0');
    await waitFor('the version merged after lakeFS came back', async () => (await client.predict(transaction())).model?.revision === next, 10_000);
    // The same commit as the cached copy was never reloaded: one load per task from the cache, then one swap.
    assert.equal(service.logs.filter((record) => record.msg === 'model swapped').length, 1);
  });

  it('should stay NOT_SERVING while lakeFS is down with no cache, and serve once it is up', async () => {
    const { name, commit } = await repository();
    await lakefs.kill();
    const { service, client } = await start(lakefs.env(name));
    const unreachable = await service.waitForLog('model source check failed; serving model unchanged');
    assert.equal(unreachable.reason, 'unreachable');
    assert.match(String(unreachable.error), new RegExp(`^lakeFS at ${lakefs.api.replace(/\./g, '\\.')}: unreachable while resolving ${name}/main \\(ECONNREFUSED\\)$`));
    assert.equal(await client.checkHealth(''), 'NOT_SERVING');
    await assert.rejects(client.predict(transaction()), (error: unknown) => error instanceof FraudCallError && error.code === status.UNAVAILABLE);
    const comeBack = Date.now();
    await lakefs.resume();
    await waitFor('SERVING', async () => (await client.checkHealth('')) === 'SERVING', 20_000);
    console.log(`      lakeFS up late: SERVING ${Date.now() - comeBack} ms after lakeFS came back`);
    assert.equal((await client.predict(transaction())).model?.revision, commit);
  });

  it('should say access denied, in lakeFS\'s words, for a wrong secret, and never show the secret', async () => {
    const { name } = await repository();
    const secret = 'wrong-lakefs-secret-5a7c3e9b';
    const { service, client } = await start(lakefs.env(name, 'main', { AWS_SECRET_ACCESS_KEY: secret }));
    const refusal = await service.waitForLog('model source check failed; serving model unchanged');
    assert.equal(refusal.reason, 'denied');
    assert.equal(refusal.error, `lakeFS at ${lakefs.api}: access denied (401, lakeFS: "error authenticating request") resolving ${name}/main; check the credentials`);
    assert.equal(await client.checkHealth(''), 'NOT_SERVING');
    const { models } = await client.getModelInfo();
    assert.match(models[0]?.lastError ?? '', /access denied/);
    const metrics = await scrape(service.metricsPort);
    await service.kill();
    const everything = [JSON.stringify(service.logs), service.stderr.join(''), JSON.stringify(models), metrics].join('\n');
    assert.ok(!everything.includes(secret), 'the wrong secret appears in the output');
    assert.ok(!everything.includes(LAKEFS_SECRET_ACCESS_KEY), 'the real secret appears in the output');
  });

  it('should report a missing repository as such, with lakeFS\'s own message', async () => {
    const { service, client } = await start(lakefs.env('no-such-repository'));
    const failure = await service.waitForLog('model source check failed; serving model unchanged');
    assert.equal(failure.reason, 'not_found');
    assert.equal(failure.error, `lakeFS at ${lakefs.api}: repository no-such-repository not found (lakeFS: "repository not found")`);
    const { models } = await client.getModelInfo();
    assert.equal(models[0]?.lastError, failure.error);
    console.log(`      missing repository: ${JSON.stringify(failure.error)}`);
  });

  it('should say which ref is missing when the repository exists', async () => {
    const { name } = await repository();
    const { service } = await start(lakefs.env(name, 'no-such-branch'));
    const failure = await service.waitForLog('model source check failed; serving model unchanged');
    assert.equal(failure.reason, 'not_found');
    assert.equal(
      failure.error,
      `lakeFS at ${lakefs.api}: repository ${name} has no branch, tag or commit no-such-branch (lakeFS: "branch not found", "tag not found", "commit not found")`,
    );
  });
});

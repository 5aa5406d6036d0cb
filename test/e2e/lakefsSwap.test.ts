import assert from 'node:assert/strict';
import { FraudClient } from '../../client/fraudClient.js';
import { ExpectedAnswers } from '../helpers/expectedAnswers.js';
import { LAKEFS_VERSION, LakefsServer } from '../helpers/lakefs.js';
import { LoadLoop, loadFigures, stoppedAfterEach } from '../helpers/loadLoop.js';
import { readModel } from '../helpers/modelFixtures.js';
import { createModelRepository, versionFiles } from '../helpers/modelStore.js';
import { bundled } from '../helpers/paths.js';
import { scrape, sample } from '../helpers/scrape.js';
import { checksGoneBy } from '../helpers/serviceObservers.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { transaction } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const REPOSITORY = 'fraud-models';
const POLL_SECONDS = 1;
const MERGES = 10;

/** The bundled scenario model, which every merge here leaves as it is. */
const SCENARIO_VERSION = String(readModel(bundled('fraud-scenario')).manifest.version);

describe(`models from a real lakeFS ${LAKEFS_VERSION}: merges under load`, function () {
  this.timeout(180_000);
  let lakefs: LakefsServer;
  let service: SpawnedService;
  let client: FraudClient;
  let expected: ExpectedAnswers;
  const tracked = stoppedAfterEach();

  /** Log lines with message `msg` for `task`. */
  const lines = (msg: string, task: string): number => service.logs.filter((record) => record.msg === msg && record.task === task).length;

  before(async () => {
    lakefs = await LakefsServer.start();
    await createModelRepository(lakefs, REPOSITORY);
    // The default pending period (120 s): a refusal that waits for it cannot pass.
    service = await spawnService(lakefs.env(REPOSITORY, 'main', { FRAUD_LOG_LEVEL: 'info', FRAUD_MODEL_POLL_SECONDS: String(POLL_SECONDS) }));
    await service.waitForLog('serving');
    client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
    expected = await ExpectedAnswers.of([readModel('binary-zipmap-f32'), readModel('binary-zipmap-f32-v2'), readModel(bundled('fraud-scenario'))]);
  });

  after(async () => {
    client.close();
    await service.kill();
    await lakefs.stop();
  });

  it('should serve a version merged under load, with zero failed calls, and not reload the model the merge left unchanged', async () => {
    const load = tracked(new LoadLoop(client, expected));
    await waitFor('answers from 1.0.0', () => load.latestOf().startsWith('1.0.0@'));
    const scenarioLoads = lines('model loaded', 'multiclass');
    const merged = await lakefs.publish(REPOSITORY, versionFiles('models', 'binary-zipmap-f32-v2'), 'fraud-binary 2.0.0');
    const mergedAt = load.elapsed;
    await waitFor('answers from the merge commit', () => load.latestOf() === `2.0.0@${merged}`, 15_000);
    await waitFor('scenario answers at the merge commit', () => load.latestOf('fraud-scenario') === `${SCENARIO_VERSION}@${merged}`, 5_000);
    const report = await load.stop();
    const servedAfter = (load.firstSeenAt((version) => version === `2.0.0@${merged}`) ?? Number.NaN) - mergedAt;
    const text = await scrape(service.metricsPort);
    console.log(`      merge under load: ${loadFigures(report)}; 2.0.0 answered ${servedAfter} ms after the merge returned (poll interval ${POLL_SECONDS} s)`);
    assert.deepEqual(report.failures, []);
    assert.deepEqual(report.wrong, []);
    // The merge left the scenario model byte for byte the same: no new session, no swap, and it says so.
    assert.equal(lines('model swapped', 'multiclass'), 0);
    assert.equal(lines('model loaded', 'multiclass'), scenarioLoads);
    const unchanged = service.logs.find((record) => record.msg === 'model unchanged in the new version; not reloaded' && record.task === 'multiclass');
    assert.equal((unchanged?.model as { revision: string } | undefined)?.revision, merged);
    assert.equal(sample(text, 'fraud_model_loads_total{task="multiclass"}'), 1);
    assert.equal(sample(text, 'fraud_model_loads_total{task="binary"}'), 2);
    assert.equal(sample(text, 'fraud_model_sessions_open'), 2);
    assert.match(text, new RegExp(`fraud_model_info\\{task="multiclass",name="fraud-scenario",version="${SCENARIO_VERSION.replaceAll('.', '\\.')}",revision="${merged}",`));
  });

  it(`should serve each of ${MERGES} merges in a row under load, with zero failed calls and every answer its own`, async () => {
    const load = tracked(new LoadLoop(client, expected));
    const delays: number[] = [];
    for (let merge = 1; merge <= MERGES; merge++) {
      const version = merge % 2 === 1 ? '1.0.0' : '2.0.0';
      const fixture = merge % 2 === 1 ? 'binary-zipmap-f32' : 'binary-zipmap-f32-v2';
      const commit = await lakefs.publish(REPOSITORY, versionFiles('models', fixture), `fraud-binary ${version} (merge ${merge})`);
      const mergedAt = load.elapsed;
      await waitFor(`answers from merge ${merge}`, () => load.latestOf() === `${version}@${commit}`, 15_000);
      delays.push((load.firstSeenAt((seen) => seen === `${version}@${commit}`) ?? Number.NaN) - mergedAt);
    }
    const report = await load.stop();
    const sorted = [...delays].sort((a, b) => a - b);
    console.log(
      `      ${MERGES} merges under load: ${loadFigures(report)}; each served ${sorted[0] ?? '?'}–${sorted.at(-1) ?? '?'} ms after its merge ` +
        `(median ${sorted[Math.floor(sorted.length / 2)] ?? '?'} ms, poll interval ${POLL_SECONDS} s)`,
    );
    assert.deepEqual(report.failures, []);
    assert.deepEqual(report.wrong, []);
    assert.equal(sample(await scrape(service.metricsPort), 'fraud_model_sessions_open'), 2);
  });

  // Each case merges a bad binary model; 2.0.0, merged last by the test before, keeps serving.
  const corrupt = Buffer.concat([readModel('binary-zipmap-f32-v2').model.subarray(0, 64), Buffer.from('not the rest of a model')]);
  const refusals: [string, string, ReturnType<typeof versionFiles>, RegExp][] = [
    ['a corrupt .onnx', 'onnx', versionFiles('models', 'binary-zipmap-f32', { modelBytes: corrupt }), /onnxruntime cannot load the model|not a readable ONNX model/],
    [
      'a manifest whose sha256 is not its .onnx\'s, at once (a commit cannot change)',
      'sha256',
      versionFiles('models', 'binary-zipmap-f32', { change: (manifest) => (manifest.sha256 = 'ab'.repeat(32)) }),
      /the manifest says (ab){32}/,
    ],
    ['a multiclass model at the binary model\'s path', 'task', versionFiles('models', 'scenario-zipmap-f32'), /is a multiclass model; the binary task needs a binary model/],
  ];

  for (const [what, reason, files, message] of refusals) {
    it(`should refuse ${what} merged into main, and keep serving 2.0.0`, async () => {
      const series = `fraud_model_load_failures_total{task="binary",reason="${reason}"}`;
      const before = sample(await scrape(service.metricsPort), series) ?? 0;
      const logsBefore = service.logs.length;
      const load = tracked(new LoadLoop(client, expected));
      const merged = await lakefs.publish(REPOSITORY, files, `bad fraud-binary (${reason})`);
      const refusal = await waitFor(
        'the refusal log line',
        () => service.logs.slice(logsBefore).find((record) => record.msg === 'model version refused; serving model unchanged'),
        10_000,
      );
      assert.equal(refusal.reason, reason);
      assert.equal(refusal.task, 'binary');
      assert.match(String(refusal.error), message);
      // Refused as read: a commit never changes, so there is nothing to wait for.
      assert.ok(!service.logs.slice(logsBefore).some((record) => record.msg === 'new manifest waits for its model file; retrying'));
      assert.equal(sample(await scrape(service.metricsPort), 'fraud_model_pending_version{task="binary"}') ?? 0, 0);
      // Polls go on; the refused commit is not fetched again.
      await checksGoneBy(client, 'binary', 3);
      const report = await load.stop();
      const text = await scrape(service.metricsPort);
      assert.equal(sample(text, series), before + 1);
      assert.deepEqual(report.failures, []);
      assert.deepEqual(report.wrong, []);
      const answer = await client.predict(transaction({ txAmount: 250 }));
      assert.equal(answer.model?.version, '2.0.0');
      assert.notEqual(answer.model.revision, merged);
      const { models } = await client.getModelInfo();
      assert.match(models[0]?.lastError ?? '', message);
      console.log(`      refused (${reason}) under load, ${loadFigures(report)}: ${String(refusal.error).slice(0, 100)}…`);
    });
  }

  it('should take the next good merge after the refusals', async () => {
    const merged = await lakefs.publish(REPOSITORY, versionFiles('models', 'binary-zipmap-f32'), 'fraud-binary 1.0.0 again');
    await waitFor('1.0.0 at the merge commit', async () => (await client.predict(transaction())).model?.revision === merged, 10_000);
    const { models } = await client.getModelInfo();
    assert.equal(models[0]?.lastError, '');
  });
});

import assert from 'node:assert/strict';
import { FraudClient } from '../../client/fraudClient.js';
import { ExpectedAnswers } from '../helpers/expectedAnswers.js';
import { LAKEFS_VERSION, LakefsServer } from '../helpers/lakefs.js';
import { LoadLoop, loadFigures, stoppedAfterEach } from '../helpers/loadLoop.js';
import { readModel } from '../helpers/modelFixtures.js';
import { createModelRepository, versionFiles } from '../helpers/modelStore.js';
import { bundled } from '../helpers/paths.js';
import { scrape, sample } from '../helpers/scrape.js';
import { watchHealth, type HealthWatch } from '../helpers/serviceObservers.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { waitFor } from '../helpers/waitFor.js';

const REPOSITORY = 'fraud-models';
const OUTAGE_MS = 30_000;

/** How lakeFS goes away, and how it comes back. */
interface Outage {
  readonly name: string;
  /** What the service's first failed check says. */
  readonly symptom: RegExp;
  begin(lakefs: LakefsServer): Promise<void>;
  end(lakefs: LakefsServer): Promise<void>;
}

const outages: readonly Outage[] = [
  {
    name: 'killed (SIGKILL)',
    // Refused, or reset when the kill lands on a check in flight.
    symptom: /unreachable while resolving fraud-models\/main \((ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET)\)/,
    begin: (lakefs) => lakefs.kill(),
    end: (lakefs) => lakefs.resume(),
  },
  {
    // Connections still open and requests are taken, but nothing answers: only timeouts end them.
    name: 'frozen (SIGSTOP)',
    symptom: /unreachable while resolving fraud-models\/main \(TimeoutError\)/,
    begin: (lakefs) => {
      lakefs.freeze();
      return Promise.resolve();
    },
    end: (lakefs) => {
      lakefs.thaw();
      return Promise.resolve();
    },
  },
];

describe(`models from a real lakeFS ${LAKEFS_VERSION}: outages under load`, function () {
  this.timeout(180_000);
  let lakefs: LakefsServer;
  let expected: ExpectedAnswers;
  let versions = 0;
  const tracked = stoppedAfterEach();
  let service: SpawnedService | undefined;
  let client: FraudClient | undefined;
  let health: HealthWatch[] = [];

  before(async () => {
    lakefs = await LakefsServer.start();
    await createModelRepository(lakefs, REPOSITORY);
    expected = await ExpectedAnswers.of([readModel('binary-zipmap-f32'), readModel('binary-zipmap-f32-v2'), readModel(bundled('fraud-scenario'))]);
  });

  afterEach(async () => {
    for (const watch of health) watch.stop();
    health = [];
    client?.close();
    await service?.kill();
    lakefs.thaw();
    if (!(await lakefs.healthy())) await lakefs.resume();
  });

  after(async () => {
    await lakefs.stop();
  });

  for (const outage of outages) {
    it(`should keep serving through ${OUTAGE_MS / 1000} s of lakeFS ${outage.name}: zero failed calls, SERVING throughout, then follow the next merge`, async () => {
      const spawned = await spawnService(lakefs.env(REPOSITORY, 'main', { FRAUD_MODEL_RETRY_MAX_SECONDS: '4' }));
      service = spawned;
      await spawned.waitForLog('serving');
      const fraudClient = new FraudClient({ address: spawned.address, retry: { attempts: 1 } });
      client = fraudClient;
      health = [watchHealth(spawned.address), watchHealth(spawned.address, 'fraud.v1.FraudService')];
      const load = tracked(new LoadLoop(fraudClient, expected));
      await waitFor('answers', () => load.callCount > 100);

      await outage.begin(lakefs);
      const down = Date.now();
      const firstFailure = await waitFor(
        'the first failed check',
        () => spawned.logs.find((record) => record.msg === 'model source check failed; serving model unchanged'),
        // A frozen lakeFS fails a check only when the 10 s request timeout ends it.
        25_000,
      );
      assert.match(String(firstFailure.error), outage.symptom);
      // The outage itself: its length is the scenario, not a wait for something.
      await new Promise((wake) => setTimeout(wake, OUTAGE_MS - (Date.now() - down)));
      await outage.end(lakefs);
      const up = Date.now();
      await waitFor('lakeFS reachable again', () => spawned.logs.some((record) => record.msg === 'model source reachable again'), 20_000);
      const recoveredAfter = Date.now() - up;

      const fixture = ++versions % 2 === 1 ? 'binary-zipmap-f32-v2' : 'binary-zipmap-f32';
      const version = fixture === 'binary-zipmap-f32-v2' ? '2.0.0' : '1.0.0';
      const merged = await lakefs.publish(REPOSITORY, versionFiles('models', fixture), `fraud-binary ${version} after the outage`);
      await waitFor('the version merged after the outage', () => load.latestOf() === `${version}@${merged}`, 15_000);
      const report = await load.stop();
      const text = await scrape(spawned.metricsPort);
      const errors = sample(text, 'fraud_model_source_errors_total{task="binary",reason="unreachable"}') ?? 0;
      const warnings = spawned.logs.filter((record) => record.msg === 'model source check failed; serving model unchanged' && record.level === 'warn');
      const [whole, fraudService] = health;
      console.log(
        `      lakeFS ${outage.name} ${Math.round((up - down) / 1000)} s: ${loadFigures(report)}; health watch: ${whole?.statuses.join(',') ?? '?'} ` +
          `(server), ${fraudService?.statuses.join(',') ?? '?'} (fraud.v1.FraudService); ${errors} failed checks counted, ${warnings.length} warning(s) logged; ` +
          `checks recovered ${recoveredAfter} ms after lakeFS came back`,
      );
      assert.deepEqual(report.failures, []);
      assert.deepEqual(report.wrong, []);
      for (const watch of health) {
        assert.deepEqual(watch.statuses, ['SERVING'], 'one status, never changed');
        assert.equal(watch.broken, undefined);
      }
      assert.ok(errors >= 2, `${errors} failed checks`);
      assert.equal(warnings.length, 2, 'one warning per task for the whole outage, not one per check');
    });
  }
});

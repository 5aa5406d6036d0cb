import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TransactionInput } from '../../client/fraudClient.js';
import { DecisionRole, type ModelDecision } from '../../src/gen/fraud/v1/decision_record.js';
import { byCall, decisionRecordsIn } from '../helpers/decisionFiles.js';
import { RedisServer } from '../helpers/redis.js';
import { fixture } from '../helpers/paths.js';
import { sample, scrape } from '../helpers/scrape.js';
import { establishedCard, startTestService, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

type Card = ReturnType<typeof establishedCard>;

/** Three cards with a past, the same for every service: each has its own history store, so their histories are equal. */
function someCards(): Card[] {
  return [establishedCard(40, { txAmount: 160 }), establishedCard(25), establishedCard(70, { txAmount: 250 })];
}

/** Every scoring method, called the same way on any service: the answers (every field), and the transactions sent. */
async function exercise(service: TestService, cards: readonly Card[]): Promise<{ answers: unknown[]; sent: number }> {
  const { client } = service;
  const answers: unknown[] = [];
  let sent = 0;
  const history = cards.flatMap((card) => card.history);
  answers.push(await client.predictBatch(history, { explain: true }));
  sent += history.length;
  const [first, second, third] = cards.map((card) => card.next) as [TransactionInput, TransactionInput, TransactionInput];
  answers.push(await client.predict(first, { explain: true }));
  answers.push(await client.predictScenario({ ...second, transactionId: Number(second.transactionId) + 50 }, { explain: true }));
  answers.push(await client.predictScenarioBatch([{ ...third, transactionId: Number(third.transactionId) + 50 }], { explain: false }));
  sent += 3;
  const streamed = [second, third, { ...first, transactionId: Number(first.transactionId) + 70, txTimeSeconds: Number(first.txTimeSeconds) + 60 }];
  for await (const answer of client.predictStream(streamed, { perMessage: 2, explain: true })) answers.push(answer);
  const scenarioStream = [{ ...first, transactionId: Number(first.transactionId) + 80, txTimeSeconds: Number(first.txTimeSeconds) + 120 }];
  for await (const answer of client.predictStream(scenarioStream, { task: 'scenario' })) answers.push(answer);
  sent += streamed.length + scenarioStream.length;
  return { answers, sent };
}

/** The sum of every series whose line starts with `prefix`. */
function sumOf(text: string, prefix: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** A model's decision but for its role, to compare a shadow's with the same model's serving one. */
function withoutRole(decision: ModelDecision | undefined): ModelDecision {
  assert.ok(decision !== undefined);
  return { ...decision, role: DecisionRole.DECISION_ROLE_UNSPECIFIED };
}

describe('challenger models in the shadow of the serving ones', function () {
  this.timeout(60_000);
  const services: TestService[] = [];
  const dirs: string[] = [];
  let redis: RedisServer;
  let prefixes = 0;

  before(async () => {
    redis = await RedisServer.start();
  });

  after(async () => {
    await redis.stop();
  });

  /** Each service's own history: the embedded store, or its own keys in one Redis. */
  const storeEnv = (store: 'memory' | 'redis'): Record<string, string> =>
    store === 'memory' ? { FRAUD_STATE_STORE: 'memory' } : { FRAUD_STATE_STORE: 'redis', FRAUD_REDIS_URL: redis.url, FRAUD_REDIS_KEY_PREFIX: `shadow${String(++prefixes)}:` };

  afterEach(async () => {
    await Promise.all(services.splice(0).map((service) => service.stop()));
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });

  async function start(env: Record<string, string>, decisionLog = true): Promise<TestService & { dir: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'fraud-shadow-'));
    dirs.push(dir);
    // Several services share this test's event loop: none sheds its shadow for the loop's load (FRAUD_SHADOW_SHED_LOOP_BUSY=1).
    const service = await startTestService({ FRAUD_SHADOW_SHED_LOOP_BUSY: '1', ...(decisionLog && { FRAUD_DECISION_LOG_DIR: dir, FRAUD_DECISION_LOG_BATCH_RECORDS: '10' }), ...env });
    services.push(service);
    return Object.assign(service, { dir });
  }

  const metric = async (service: TestService, series: string): Promise<number> => sample(await scrape(service.service.metricsPort), series) ?? 0;

  async function recordsOf(service: TestService & { dir: string }, count: number): Promise<ReturnType<typeof byCall>> {
    await waitFor(`${count} records written`, async () => (await metric(service, 'fraud_decision_log_records_total{sink="file"}')) === count);
    return byCall(await decisionRecordsIn(service.dir));
  }

  /** Waits until both shadows are loaded (GetModelInfo.shadows). */
  async function shadowsLoaded(service: TestService, count = 2): Promise<void> {
    await waitFor('shadows loaded', async () => (await service.client.getModelInfo()).shadows.filter((shadow) => shadow.serving).length === count);
  }

  for (const [store, champion, challenger] of [
    ['memory', 'binary-zipmap-f32', 'binary-history-f32'],
    ['memory', 'binary-history-f32', 'binary-zipmap-f32-v2'],
    ['redis', 'binary-zipmap-f32', 'binary-history-f32'],
    ['redis', 'binary-history-f32', 'binary-zipmap-f32-v2'],
  ] as const) {
    it(`${champion} serving, ${challenger} in its shadow (${store} store): the same answers as without the shadow, and records with the shadow's own probabilities and features`, async () => {
      const scenario = { FRAUD_SCENARIO_MODEL_URI: fixture('scenario-zipmap-f32') };
      const shadowed = await start({
        ...storeEnv(store),
        FRAUD_BINARY_MODEL_URI: fixture(champion),
        FRAUD_BINARY_SHADOW_MODEL_URI: fixture(challenger),
        ...scenario,
        FRAUD_SCENARIO_SHADOW_MODEL_URI: fixture('scenario-tensor-f64'),
      });
      const alone = await start({ ...storeEnv(store), FRAUD_BINARY_MODEL_URI: fixture(champion), ...scenario }, false);
      // The challengers as the serving models of a third service: what they give alone.
      const reference = await start({ ...storeEnv(store), FRAUD_BINARY_MODEL_URI: fixture(challenger), FRAUD_SCENARIO_MODEL_URI: fixture('scenario-tensor-f64') });
      await shadowsLoaded(shadowed);

      const cards = someCards();
      const withShadow = await exercise(shadowed, cards);
      const withoutShadow = await exercise(alone, cards);
      await exercise(reference, cards);
      assert.deepEqual(withShadow.answers, withoutShadow.answers);

      const records = await recordsOf(shadowed, withShadow.sent);
      const referenceRecords = await recordsOf(reference, withShadow.sent);
      assert.equal(records.size, withShadow.sent);
      for (const [key, record] of records) {
        assert.equal(record.models.length, 2, key);
        const [serving, shadow] = record.models as [ModelDecision, ModelDecision];
        assert.equal(serving.role, DecisionRole.DECISION_ROLE_SERVING, key);
        assert.equal(shadow.role, DecisionRole.DECISION_ROLE_SHADOW, key);
        const alone = referenceRecords.get(key)?.models[0];
        // Everything the challenger gives alone: identity, features from the same history, probabilities, class, threshold.
        assert.deepEqual(withoutRole(shadow), withoutRole(alone), key);
      }
      const shadows = [...records.values()].map((record) => record.models[1] as ModelDecision);
      // Not a test of nothing: the two models disagree somewhere, and the history features are not all empty.
      assert.ok([...records.values()].some((record) => record.models[0]?.fraudProbability !== record.models[1]?.fraudProbability));
      const historical = [...records.values()].flatMap((record) => record.models.map((model) => model.features.CUSTOMER_ID_NB_TX_30DAY_WINDOW ?? 0));
      assert.ok(historical.some((count) => count > 0));
      // The shadow's runs are counted in its own series, by task: the binary transactions and the scenario ones.
      const text = await scrape(shadowed.service.metricsPort);
      const counted = (task: string): number => sumOf(text, `fraud_shadow_predictions_total{task="${task}"`);
      assert.equal(counted('binary'), shadows.filter((shadow) => shadow.name === 'fraud-binary').length);
      assert.equal(counted('multiclass'), shadows.filter((shadow) => shadow.name === 'fraud-scenario').length);
      assert.equal(sumOf(text, 'fraud_shadow_rows_shed_total{'), 0);
      assert.equal(sample(text, 'fraud_shadow_rows_in_flight'), 0);
    });
  }
});

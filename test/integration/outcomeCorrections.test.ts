import assert from 'node:assert/strict';
import { OutcomeStatus } from '../../src/gen/fraud/v1/fraud_service.js';
import { runCli } from '../helpers/cliRun.js';
import { at, DAY } from '../helpers/historyCalls.js';
import { fixture } from '../helpers/paths.js';
import { RedisServer } from '../helpers/redis.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, type TestService } from '../helpers/testService.js';

const EPOCH = Date.parse('2018-04-01T00:00:00Z') / 1000;
/** When the correction becomes known: day 8 of the simulator's clock, whose 7-day terminal window holds day 0. */
const CORRECTED_AT = 8 * DAY + 10_000;

function iso(simulatorSeconds: number): string {
  return new Date((EPOCH + simulatorSeconds) * 1000).toISOString();
}

/**
 * Corrections end to end, through the API and the CLI, in each store: a
 * different outcome without supersedes stays a conflict; with it the
 * outcome changes from its known_at on, which later scores read; refused
 * corrections say why; each status is counted and each correction logged
 * once.
 */
function correctionsIn(store: 'memory' | 'redis'): void {
  describe(`outcome corrections over a real socket (${store} store)`, () => {
    let redis: RedisServer | undefined;
    let service: TestService;

    before(async () => {
      if (store === 'redis') redis = await RedisServer.start();
      service = await startTestService({
        FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'),
        FRAUD_SCENARIO_MODEL_URI: fixture('scenario-zipmap-f32'),
        FRAUD_STATE_LATENESS_SECONDS: '3600',
        FRAUD_STATE_STORE: store,
        ...(redis === undefined ? {} : { FRAUD_REDIS_URL: redis.url, FRAUD_REDIS_KEY_PREFIX: 'corrections:' }),
      });
    });

    after(async () => {
      await service.stop();
      await redis?.stop();
    });

    it('should answer a correction CORRECTED, score later transactions with it from its known_at on, refuse stale and excess ones, count and log each', async () => {
      const { client } = service;
      await client.predict(at(77_001, 7_701, 7_700, 0));
      assert.equal((await client.reportOutcome({ transactionId: 77_001, outcome: 'fraud', knownAtSeconds: DAY })).status, OutcomeStatus.OUTCOME_STATUS_APPLIED);
      const conflict = await client.reportOutcome({ transactionId: 77_001, outcome: 'legitimate', knownAtSeconds: 2 * DAY });
      assert.equal(conflict.status, OutcomeStatus.OUTCOME_STATUS_CONFLICT);
      assert.match(conflict.message, /supersedes/);

      const cli = await runCli(service.address, ['outcome', '--transaction-id', '77001', '--outcome', 'legitimate', '--known-at-seconds', String(CORRECTED_AT), '--supersedes']);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(cli.stdout, `transaction 77001: corrected: transaction 77001 was fraud (known at ${iso(DAY)}); corrected from ${iso(CORRECTED_AT)} on\n`);

      // One second before the correction's known_at the fraud still counts; from it on it does not.
      const before = await client.predict(at(77_002, 7_702, 7_700, 8, CORRECTED_AT - 8 * DAY - 1), { explain: true });
      const from = await client.predict(at(77_003, 7_703, 7_700, 8, CORRECTED_AT - 8 * DAY), { explain: true });
      assert.deepEqual([before.features.TERMINAL_ID_RISK_7DAY_WINDOW, from.features.TERMINAL_ID_RISK_7DAY_WINDOW], [1, 0]);

      const results = await client.reportOutcomes([
        { transactionId: 77_001, outcome: 'fraud', knownAtSeconds: CORRECTED_AT - 1, supersedes: true },
        { transactionId: 77_001, outcome: 'fraud', knownAtSeconds: CORRECTED_AT + 10, supersedes: true },
        { transactionId: 77_001, outcome: 'legitimate', knownAtSeconds: CORRECTED_AT + 20, supersedes: true },
        { transactionId: 77_001, outcome: 'fraud', knownAtSeconds: CORRECTED_AT + 30, supersedes: true },
      ]);
      assert.deepEqual(
        results.map((result) => OutcomeStatus[result.status]),
        ['OUTCOME_STATUS_OUT_OF_ORDER', 'OUTCOME_STATUS_CORRECTED', 'OUTCOME_STATUS_CORRECTED', 'OUTCOME_STATUS_TOO_MANY_CORRECTIONS'],
      );
      assert.match(results[0]?.message ?? '', /legitimate, became known at .+ after this correction's known_at/);
      assert.match(results[3]?.message ?? '', /already corrected 3 times/);
      const later = await client.predict(at(77_004, 7_704, 7_700, 8, CORRECTED_AT - 8 * DAY + 15), { explain: true });
      assert.equal(later.features.TERMINAL_ID_RISK_7DAY_WINDOW, 1, 'the fraud in force from +10 to +20');

      const text = await scrape(service.service.metricsPort);
      const counted = ['applied', 'conflict', 'corrected', 'out_of_order', 'too_many_corrections'].map((status) => sample(text, `fraud_state_outcomes_total{status="${status}"}`));
      assert.deepEqual(counted, [1, 1, 3, 1, 1]);
      const logged = service.logs.filter((record) => record.msg === 'outcome corrected');
      assert.deepEqual(
        logged.map((record) => [record.transactionId, record.from, record.to, record.knownAt]),
        [
          ['77001', 'fraud', 'legitimate', iso(CORRECTED_AT)],
          ['77001', 'legitimate', 'fraud', iso(CORRECTED_AT + 10)],
          ['77001', 'fraud', 'legitimate', iso(CORRECTED_AT + 20)],
        ],
      );
    });
  });
}

correctionsIn('memory');
correctionsIn('redis');

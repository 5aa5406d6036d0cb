import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { fieldViolationsOf, type FieldViolation } from '../../client/fraudClient.js';
import {
  FraudServiceClient,
  GetModelQualityRequest,
  ModelTask,
  OutcomeStatus,
  type GetModelQualityResponse,
  type ModelQuality,
} from '../../src/gen/fraud/v1/fraud_service.js';
import { SCORE_BIN_UPPER_BOUNDS } from '../../src/quality/scoreBins.js';
import { at, DAY } from '../helpers/historyCalls.js';
import { fixture } from '../helpers/paths.js';
import { RedisServer } from '../helpers/redis.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

/** The simulator's clock starts here: its day 0 is this event day. */
const EPOCH_DAY = Date.parse('2018-04-01T00:00:00Z') / 1000 / DAY;

interface CallFailure {
  readonly code: number;
  readonly details: string;
  readonly violations: FieldViolation[];
}

/** GetModelQuality through the generated stub (the typed client does not call it), with an optional bearer token. */
function getModelQuality(address: string, request: Partial<GetModelQualityRequest>, token?: string): Promise<GetModelQualityResponse> {
  const stub = new FraudServiceClient(address, credentials.createInsecure());
  const metadata = new Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  return new Promise<GetModelQualityResponse>((resolveCall, rejectCall) => {
    stub.getModelQuality(GetModelQualityRequest.fromPartial(request), metadata, (error: ServiceError | null, answer?: GetModelQualityResponse) => {
      stub.close();
      if (error !== null) rejectCall(error);
      else if (answer === undefined) rejectCall(new Error('no answer'));
      else resolveCall(answer);
    });
  });
}

async function failure(call: Promise<unknown>): Promise<CallFailure> {
  try {
    await call;
  } catch (error) {
    const refused = error as ServiceError;
    return { code: refused.code, details: refused.details, violations: fieldViolationsOf(refused.metadata) };
  }
  assert.fail('the call succeeded');
}

const days = (count: number): { seconds: bigint; nanos: number } => ({ seconds: BigInt(count * DAY), nanos: 0 });

describe('GetModelQuality over a real socket', function () {
  this.timeout(60_000);

  describe('with the embedded store', () => {
    let service: TestService;
    before(async () => {
      service = await startTestService({ FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'), FRAUD_SCENARIO_MODEL_URI: fixture('scenario-zipmap-f32') });
    });
    after(async () => {
      await service.stop();
    });

    it('should refuse a bad request with INVALID_ARGUMENT and one field violation per problem', async () => {
      const refused = await failure(
        getModelQuality(service.address, { task: ModelTask.UNRECOGNIZED, windows: [{ seconds: 3_600n, nanos: 0 }, days(0), days(36), days(1), days(1)], revisions: ['r', ''] }),
      );
      assert.equal(refused.code, status.INVALID_ARGUMENT);
      assert.deepEqual(
        refused.violations.map((violation) => violation.field),
        ['task', 'revisions[1]', 'windows[0]', 'windows[1]', 'windows[2]', 'windows[4]'],
      );
      assert.match(refused.violations[4]?.description ?? '', /at most 35 days \(the days kept: FRAUD_QUALITY_RETENTION_DAYS/);
    });

    it('should answer the bins and no model before any outcome joined a score', async () => {
      const answer = await getModelQuality(service.address, {});
      assert.deepEqual(answer.models, []);
      assert.deepEqual(answer.scoreBinUpperBounds, [...SCORE_BIN_UPPER_BOUNDS]);
    });

    it('should hand each applied outcome to live quality after the store answered: counted under the model, or as unscored when no score was kept', async () => {
      const { client } = service;
      await client.predict(at(61_001, 6_101, 6_100, 2));
      assert.equal((await client.reportOutcome({ transactionId: 61_001, outcome: 'fraud', knownAtSeconds: 3 * DAY })).status, OutcomeStatus.OUTCOME_STATUS_APPLIED);
      const text = await scrape(service.service.metricsPort);
      const joined = text
        .split('\n')
        .filter((line) => line.startsWith('fraud_quality_outcomes_total{'))
        .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
      assert.equal(joined + (sample(text, 'fraud_quality_unscored_outcomes_total{status="applied"}') ?? 0), 1);
      assert.equal(sample(text, 'fraud_quality_updates_dropped_total{reason="unavailable"}'), 0);
    });
  });

  it('should answer FAILED_PRECONDITION, saying why, without a state store', async () => {
    // The bundled models read history, so they are refused without a store: the call needs no model.
    const service = await startTestService({ FRAUD_STATE_STORE: 'none' }, false);
    try {
      const refused = await failure(getModelQuality(service.address, {}));
      assert.equal(refused.code, status.FAILED_PRECONDITION);
      assert.match(refused.details, /FRAUD_STATE_STORE=none.*live model quality needs a state store/);
      assert.equal(sample(await scrape(service.service.metricsPort), 'fraud_quality_updates_dropped_total{reason="unavailable"}'), undefined, 'no quality metrics without a store');
    } finally {
      await service.stop();
    }
  });

  it('should be a read: refused without a token when FRAUD_AUTH_READS=authenticated, answered with one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fraud-quality-auth-'));
    const token = 'quality-reader-0123456789abcdef';
    await writeFile(join(dir, 'tokens'), `analyst ${token}\n`);
    const service = await startTestService({ FRAUD_AUTH_TOKENS_FILE: join(dir, 'tokens'), FRAUD_AUTH_READS: 'authenticated' });
    try {
      assert.equal((await failure(getModelQuality(service.address, {}))).code, status.UNAUTHENTICATED);
      assert.deepEqual((await getModelQuality(service.address, {}, token)).models, []);
    } finally {
      await service.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  /**
   * Predict → ReportOutcome → GetModelQuality, in each store; with Redis on
   * two replicas, one reporting and the other answering.
   */
  for (const store of ['memory', 'redis'] as const) {
    it(`should count outcomes joined to the serving model's scores and answer them per revision and window (${store} store)`, async () => {
      const redis = store === 'redis' ? await RedisServer.start() : undefined;
      const env = {
        FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'),
        FRAUD_SCENARIO_MODEL_URI: fixture('scenario-zipmap-f32'),
        FRAUD_STATE_STORE: store,
        ...(redis === undefined ? {} : { FRAUD_REDIS_URL: redis.url, FRAUD_REDIS_KEY_PREFIX: 'quality-e2e:' }),
      };
      const first = await startTestService(env);
      const second = redis === undefined ? first : await startTestService(env);
      try {
        const answers = [
          await first.client.predict(at(62_001, 6_201, 6_200, 10)),
          await first.client.predict(at(62_002, 6_202, 6_200, 10, 50_000)),
          await first.client.predict(at(62_003, 6_203, 6_200, 4)),
        ];
        // Scores are kept after the answer, off the call's path: outcomes join them once they are.
        await waitFor('the scores kept', async () => sample(await scrape(first.service.metricsPort), 'fraud_quality_scores_pending') === 0);
        const results = await first.client.reportOutcomes([
          { transactionId: 62_001, outcome: 'fraud', knownAtSeconds: 10 * DAY + 36_000 + 3_600 },
          { transactionId: 62_002, outcome: 'fraud', knownAtSeconds: 11 * DAY },
          { transactionId: 62_003, outcome: 'legitimate', knownAtSeconds: 11 * DAY },
        ]);
        assert.ok(results.every((result) => result.status === OutcomeStatus.OUTCOME_STATUS_APPLIED));
        // A correction moves 62002 from fraud to legitimate.
        const [corrected] = await first.client.reportOutcomes([{ transactionId: 62_002, outcome: 'legitimate', knownAtSeconds: 12 * DAY, supersedes: true }]);
        assert.equal(corrected?.status, OutcomeStatus.OUTCOME_STATUS_CORRECTED);

        const revision = answers[0]?.model?.revision ?? '';
        // The ledger is written after the answer (off the call's path): wait until it holds the correction.
        const answer = await waitFor('live quality to hold the correction', async () => {
          const read = await getModelQuality(second.address, { task: ModelTask.MODEL_TASK_BINARY, revisions: [revision], windows: [days(1), days(7)] });
          const day = read.models[0];
          return day !== undefined && day.legitimateAlerted + day.legitimatePassed === 1n && read;
        });
        const [lastDay, lastWeek] = answer.models as [ModelQuality, ModelQuality];
        assert.equal(answer.models.length, 2);
        assert.equal(lastDay.revision, revision);
        assert.equal(lastDay.startTime?.getTime(), (EPOCH_DAY + 10) * DAY * 1000, 'the newest event day with an outcome: day 10');
        const alerted = (index: number): boolean => (answers[index]?.fraudProbability ?? 0) >= (answers[index]?.threshold ?? 0.5);
        // Day 10: 62001 fraud, 62002 legitimate (corrected); day 4 (62003, legitimate) is the first of the 7-day window (10 - 6).
        assert.equal(lastDay.fraudAlerted + lastDay.fraudPassed, 1n);
        assert.equal(lastDay.legitimateAlerted + lastDay.legitimatePassed, 1n);
        assert.equal(lastDay.fraudAlerted, alerted(0) ? 1n : 0n);
        assert.equal(lastWeek.legitimateAlerted + lastWeek.legitimatePassed, 2n);
        assert.equal(lastDay.fraudScoreBins.reduce((sum, count) => sum + count, 0n), 1n);
        assert.equal(lastDay.meanOutcomeDelaySeconds, (3_600 + (12 * DAY - (10 * DAY + 50_000))) / 2);
        const text = await scrape(first.service.metricsPort);
        const fraudCounted = ['alerted', 'passed']
          .map((decision) => text.split('\n').find((line) => line.startsWith('fraud_quality_outcomes_total{') && line.includes('outcome="fraud"') && line.includes(`decision="${decision}"`)))
          .reduce((sum, line) => sum + (line === undefined ? 0 : Number(line.split(' ').at(-1))), 0);
        assert.equal(fraudCounted, 2, 'counters keep the outcome first applied');
        assert.ok(text.includes('fraud_quality_corrections_total{'), 'and count the correction apart');
      } finally {
        if (second !== first) await second.stop();
        await first.stop();
        await redis?.stop();
      }
    });
  }
});

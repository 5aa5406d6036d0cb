import assert from 'node:assert/strict';
import { FailedPreconditionError, InvalidArgumentError } from '../../src/api/apiErrors.js';
import { getModelQuality, type ModelQualityOptions } from '../../src/api/modelQuality.js';
import { ModelTask, type GetModelQualityRequest } from '../../src/gen/fraud/v1/fraud_service.js';
import { MemoryQualityLedger } from '../../src/quality/memoryQualityLedger.js';
import type { QualityUpdate } from '../../src/quality/qualityLedger.js';
import { binOf, SCORE_BIN_UPPER_BOUNDS } from '../../src/quality/scoreBins.js';
import type { ScoredModel } from '../../src/state/modelScores.js';
import type { OutcomeKind } from '../../src/state/stateStore.js';

const DAY = 86_400;
const D = 20_000;
const CHAMPION: ScoredModel = { task: 'binary', name: 'fraud-binary', version: '2.0.0', revision: 'b' };
const CHALLENGER: ScoredModel = { task: 'binary', name: 'fraud-binary', version: '2.0.0', revision: 'a' };
const SCENARIO: ScoredModel = { task: 'multiclass', name: 'fraud-scenario', version: '1.0.0', revision: 'c' };

function outcome(kind: OutcomeKind, day: number, fraudProbability: number, models: ScoredModel[] = [CHAMPION], delay = 3_600): QualityUpdate {
  const eventTime = day * DAY + 600;
  return { outcome: kind, knownAt: eventTime + delay, joined: { eventTime, scores: models.map((model) => ({ model, fraudProbability, alerted: fraudProbability >= 0.5 })) } };
}

const request = (overrides: Partial<GetModelQualityRequest> = {}): GetModelQualityRequest => ({ task: ModelTask.MODEL_TASK_UNSPECIFIED, revisions: [], windows: [], endTime: undefined, ...overrides });
const days = (count: number, nanos = 0): { seconds: bigint; nanos: number } => ({ seconds: BigInt(Math.round(count * DAY)), nanos });

async function ledgerWith(updates: QualityUpdate[]): Promise<ModelQualityOptions> {
  const ledger = new MemoryQualityLedger({ retentionDays: 35, maxRevisionsPerTask: 8 }, { dropped: () => undefined, revisionDropped: () => undefined });
  await ledger.record(updates);
  return { ledger, unavailable: 'no store', retentionDays: 35 };
}

async function violations(options: ModelQualityOptions, bad: Partial<GetModelQualityRequest>): Promise<Record<string, string>> {
  try {
    await getModelQuality(request(bad), options);
  } catch (error) {
    assert.ok(error instanceof InvalidArgumentError, String(error));
    return Object.fromEntries(error.violations.map(({ field, description }) => [field, description]));
  }
  assert.fail('the request was accepted');
}

describe('GetModelQuality: windows and figures', () => {
  it('should answer the last 1 and 7 days ending with the newest event day with an outcome, by default', async () => {
    const options = await ledgerWith([
      outcome('fraud', D, 0.9),
      outcome('legitimate', D, 0.1),
      outcome('legitimate', D - 6, 0.6),
      // Seven days back: in no default window.
      outcome('fraud', D - 7, 0.2),
    ]);
    const answer = await getModelQuality(request(), options);
    assert.deepEqual(answer.scoreBinUpperBounds, [...SCORE_BIN_UPPER_BOUNDS]);
    assert.deepEqual(
      answer.models.map((model) => [model.revision, Number(model.window?.seconds) / DAY]),
      [
        ['b', 1],
        ['b', 7],
      ],
    );
    const [lastDay, lastWeek] = answer.models;
    assert.ok(lastDay && lastWeek);
    assert.equal(lastDay.startTime?.getTime(), D * DAY * 1000);
    assert.equal(lastDay.endTime?.getTime(), (D + 1) * DAY * 1000);
    assert.deepEqual([lastDay.fraudAlerted, lastDay.fraudPassed, lastDay.legitimateAlerted, lastDay.legitimatePassed], [1n, 0n, 0n, 1n]);
    assert.equal(lastDay.auc, 1);
    assert.equal(lastDay.averagePrecision, 1);
    assert.equal(lastDay.recall, 1);
    assert.equal(lastDay.precision, 1);
    assert.equal(lastDay.alertRate, 0.5);
    assert.equal(lastDay.fraudRate, 0.5);
    assert.equal(lastDay.meanOutcomeDelaySeconds, 3_600);
    assert.equal(lastDay.fraudScoreBins[binOf(0.9)], 1n);
    assert.equal(lastDay.fraudScoreBins.length, SCORE_BIN_UPPER_BOUNDS.length);
    assert.equal(lastWeek.startTime?.getTime(), (D - 6) * DAY * 1000, 'seven days: D - 6 to D');
    assert.deepEqual([lastWeek.fraudAlerted, lastWeek.fraudPassed, lastWeek.legitimateAlerted, lastWeek.legitimatePassed], [1n, 0n, 1n, 1n]);
    assert.equal(lastWeek.precision, 0.5);
  });

  it('should end every window with the day of end_time, and list revisions by task, name, version, revision, then window', async () => {
    const options = await ledgerWith([outcome('fraud', D - 3, 0.9, [CHAMPION, CHALLENGER, SCENARIO]), outcome('legitimate', D - 2, 0.1, [CHAMPION])]);
    // The last second of day D - 3: windows end with D - 3, so D - 2 is in none.
    const answer = await getModelQuality(request({ endTime: new Date(((D - 2) * DAY - 1) * 1000), windows: [days(2), days(1)] }), options);
    assert.deepEqual(
      answer.models.map((model) => `${model.task}/${model.revision}/${Number(model.window?.seconds) / DAY}`),
      ['1/a/1', '1/a/2', '1/b/1', '1/b/2', '2/c/1', '2/c/2'],
    );
    for (const model of answer.models) {
      assert.equal(model.endTime?.getTime(), (D - 2) * DAY * 1000);
      assert.equal(model.legitimatePassed, 0n);
      assert.equal(model.fraudAlerted, 1n);
      assert.ok(Number.isNaN(model.auc), 'no legitimate transaction');
      assert.equal(model.precision, 1);
    }
    const scenarioOnly = await getModelQuality(request({ task: ModelTask.MODEL_TASK_MULTICLASS, endTime: new Date((D - 3) * DAY * 1000) }), options);
    assert.deepEqual(scenarioOnly.models.map((model) => model.revision), ['c', 'c']);
    const named = await getModelQuality(request({ revisions: ['a'], endTime: new Date((D - 3) * DAY * 1000), windows: [days(1)] }), options);
    assert.deepEqual(named.models.map((model) => model.revision), ['a']);
  });

  it('should list a revision in every window once it has an outcome in one, with zeros and NaN where it has none', async () => {
    const options = await ledgerWith([outcome('fraud', D - 5, 0.9), outcome('legitimate', D, 0.1, [CHALLENGER])]);
    const answer = await getModelQuality(request({ windows: [days(1), days(7)] }), options);
    const champion = answer.models.filter((model) => model.revision === 'b');
    assert.equal(champion.length, 2);
    const [empty] = champion;
    assert.ok(empty);
    assert.equal(empty.fraudAlerted + empty.fraudPassed + empty.legitimateAlerted + empty.legitimatePassed, 0n);
    for (const figure of [empty.auc, empty.averagePrecision, empty.recall, empty.precision, empty.alertRate, empty.fraudRate, empty.meanOutcomeDelaySeconds]) {
      assert.ok(Number.isNaN(figure));
    }
  });

  it('should answer no model, and the bins, when no outcome was joined', async () => {
    const answer = await getModelQuality(request(), await ledgerWith([]));
    assert.deepEqual(answer.models, []);
    assert.equal(answer.scoreBinUpperBounds.length, SCORE_BIN_UPPER_BOUNDS.length);
  });

  it('should refuse without a ledger (no state store) with FAILED_PRECONDITION', async () => {
    await assert.rejects(getModelQuality(request(), { ledger: undefined, unavailable: 'no store here', retentionDays: 35 }), (error: unknown) => {
      assert.ok(error instanceof FailedPreconditionError);
      assert.equal(error.message, 'no store here');
      return true;
    });
  });

  it('should refuse windows that are not whole days, not positive, longer than the retention or 90 days, repeated or too many, an unknown task and too many revisions', async () => {
    const options = await ledgerWith([]);
    assert.deepEqual(await violations(options, { windows: [days(1.5), days(0), days(-1), days(36), days(1, 1), days(7), days(7)] }), {
      'windows[0]': 'must be a whole number of days (a multiple of 86400 s), got 129600 s and 0 ns',
      'windows[1]': 'must be at least 1 day, got 0',
      'windows[2]': 'must be at least 1 day, got -1',
      'windows[3]': 'must be at most 35 days (the days kept: FRAUD_QUALITY_RETENTION_DAYS, at most 90), got 36',
      'windows[4]': 'must be a whole number of days (a multiple of 86400 s), got 86400 s and 1 ns',
      'windows[6]': 'repeats windows[5] (7 days)',
    });
    const long = { ...options, retentionDays: 400 };
    assert.deepEqual(Object.keys(await violations(long, { windows: [days(91)] })), ['windows[0]']);
    await getModelQuality(request({ windows: [days(90)] }), long);
    await getModelQuality(request({ windows: [days(35)] }), options);
    assert.deepEqual(await violations(options, { windows: Array.from({ length: 9 }, (_, index) => days(index + 1)) }), { windows: 'at most 8 windows per request, got 9' });
    // An enum value this version does not know arrives as its number (UNRECOGNIZED is -1 on the wire).
    assert.deepEqual(await violations(options, { task: ModelTask.UNRECOGNIZED }), { task: 'must be MODEL_TASK_UNSPECIFIED, MODEL_TASK_BINARY or MODEL_TASK_MULTICLASS, got -1' });
    assert.deepEqual(await violations(options, { revisions: Array.from({ length: 33 }, (_, index) => `r${index}`) }), { revisions: 'at most 32 revisions per request, got 33' });
    assert.deepEqual(await violations(options, { revisions: ['a', ''] }), { 'revisions[1]': 'must not be empty' });
  });
});

import assert from 'node:assert/strict';
import { compareQuality } from '../../client/qualityStatistics.js';
import { GetModelQualityResponse, ModelTask } from '../../src/gen/fraud/v1/fraud_service.js';
import { runCli, type CliRun } from '../helpers/cliRun.js';
import { answerWith, BETTER, binnedCounts, BOUNDS, DAY_MS, FAIR, QualityStandIn, qualityEntry } from '../helpers/qualityStandIn.js';

const CHAMPION = 'a'.repeat(64);
const CHALLENGER = 'b'.repeat(64);
/** The end (exclusive) of the newest event day with outcomes. */
const END = new Date('2026-12-07T00:00:00Z');

interface CompareJson {
  champion: { revision: string; frauds: number; transactions: number; startTime: string; endTime: string; metrics: Record<string, { value: number; low: number; high: number }> };
  challenger: { revision: string; frauds: number; startTime: string; endTime: string; metrics: Record<string, { value: number; low: number; high: number }> };
  difference: Record<string, { value: number; low: number; high: number }>;
  sameDays: boolean;
  notes: string[];
  gate: { passed: boolean; failures: string[] };
}

// fraud-cli models compare against a stand-in for the service's quality RPC (test/helpers/qualityStandIn.ts).
describe('fraud-cli models compare, against a gRPC stand-in for GetModelInfo and GetModelQuality', () => {
  let standIn: QualityStandIn;
  const cli = (argv: string[]): Promise<CliRun> => runCli(standIn.address, argv, '', { retry: { attempts: 1 } });

  before(async () => {
    standIn = await QualityStandIn.start();
  });
  after(() => standIn.stop());
  beforeEach(() => {
    standIn.serve(CHAMPION, CHALLENGER);
    standIn.quality = answerWith({ [CHAMPION]: FAIR, [CHALLENGER]: BETTER }, END);
    standIn.qualityRequests.length = 0;
  });

  it('should compare the serving model with the shadow model over the last 7 event days, print the table and the verdict, and exit 0', async () => {
    const run = await cli(['models', 'compare']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      standIn.qualityRequests.map((request) => ({ task: request.task, revisions: request.revisions, windows: request.windows, endTime: request.endTime })),
      [{ task: ModelTask.MODEL_TASK_BINARY, revisions: [CHAMPION, CHALLENGER], windows: [{ seconds: 604_800n, nanos: 0 }], endTime: undefined }],
    );
    const expected = compareQuality(FAIR, BETTER);
    const auc = expected.champion.metrics.auc;
    const lines = run.stdout.split('\n');
    assert.equal(lines[0], 'binary model, last 7 event days (UTC)');
    assert.equal(lines[1], `champion    fraud-binary aaaaaa (${CHAMPION}): 2026-11-30 to 2026-12-06`);
    assert.match(lines[4] ?? '', /^metric +champion +challenger +difference \(challenger - champion\)$/);
    assert.match(lines[5] ?? '', new RegExp(`^AUC +${auc.value.toFixed(4)} \\[${auc.low.toFixed(4)}, ${auc.high.toFixed(4)}\\] +`));
    assert.match(run.stdout, /\nrecall at threshold +0\.4500 \[/);
    assert.match(run.stdout, /\nfrauds\/transactions +200\/10200 +200\/10200\n/);
    assert.match(run.stdout, /\n95 % intervals: AUC and average precision by bootstrap \(2000 resamples, seed 1\)/);
    assert.match(run.stdout, /\ngate: PASSED \(min frauds 50, max AUC loss 0, max AP loss 0\)\nverdict: the challenger passes the gate/);
    // Reproducible: the same figures on a second run.
    assert.equal((await cli(['models', 'compare'])).stdout, run.stdout);
  });

  it('--json should print the figures of the statistics module, and the gate', async () => {
    const run = await cli(['models', 'compare', '--json', '--confidence', '0.9', '--seed', '5', '--window', '3d']);
    assert.equal(run.code, 0, run.stderr);
    const answer = JSON.parse(run.stdout) as CompareJson;
    const expected = compareQuality(FAIR, BETTER, { confidence: 0.9, seed: 5 });
    assert.deepEqual(answer.champion.metrics, expected.champion.metrics);
    assert.deepEqual(answer.difference, expected.difference);
    assert.equal(answer.champion.frauds, 200);
    assert.equal(answer.champion.startTime, '2026-12-04T00:00:00.000Z');
    assert.equal(answer.sameDays, true);
    assert.deepEqual(answer.gate.failures, []);
    assert.equal(standIn.qualityRequests[0]?.windows[0]?.seconds, 3n * 86_400n);
  });

  it('should ask both revisions again over the same event days when their newest days differ', async () => {
    // The challenger's newest outcome day is a day later than the champion's: without an end time, the windows differ.
    standIn.quality = (request) => {
      const end = request.endTime === undefined ? undefined : new Date(Math.floor(request.endTime.getTime() / DAY_MS) * DAY_MS + DAY_MS);
      return GetModelQualityResponse.fromPartial({
        models: [qualityEntry(CHAMPION, '1.0.0', FAIR, 7, end ?? END), qualityEntry(CHALLENGER, '2.0.0', BETTER, 7, end ?? new Date(END.getTime() + DAY_MS))],
        scoreBinUpperBounds: BOUNDS,
      });
    };
    const run = await cli(['models', 'compare', '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(standIn.qualityRequests.length, 2);
    assert.deepEqual(standIn.qualityRequests[1]?.endTime, new Date(END.getTime() - 1));
    const answer = JSON.parse(run.stdout) as CompareJson;
    assert.equal(answer.sameDays, true);
    assert.equal(answer.challenger.endTime, END.toISOString());
  });

  it('should say so, and fail the gate, when the windows still cover different event days', async () => {
    standIn.quality = () =>
      GetModelQualityResponse.fromPartial({
        models: [qualityEntry(CHAMPION, '1.0.0', FAIR, 7, END), qualityEntry(CHALLENGER, '2.0.0', BETTER, 7, new Date(END.getTime() + DAY_MS))],
        scoreBinUpperBounds: BOUNDS,
      });
    const run = await cli(['models', 'compare']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /\n {2}- the two revisions' windows cover different event days: champion 2026-11-30 to 2026-12-06, challenger 2026-12-01 to 2026-12-07\n/);
    assert.match(run.stdout, /\ngate: FAILED /);
  });

  it('should note when the two rest on different numbers of transactions (a shadow started within the window)', async () => {
    const partial = binnedCounts(BETTER.fraudBins.map((count) => Math.round(count / 2)), BETTER.legitimateBins.map((count) => Math.round(count / 2)));
    standIn.quality = answerWith({ [CHAMPION]: FAIR, [CHALLENGER]: partial }, END);
    const run = await cli(['models', 'compare']);
    assert.match(run.stdout, /\nnote: the champion's figures rest on 10200 transactions, the challenger's on 5101: they were not scored on the same transactions/);
  });

  it('should note where the service\'s own AUC or AP disagrees with its bins', async () => {
    standIn.quality = (request) => {
      const answer = answerWith({ [CHAMPION]: FAIR, [CHALLENGER]: BETTER }, END)(request);
      for (const model of answer.models) if (model.revision === CHALLENGER) model.auc = 0.5;
      return answer;
    };
    const run = await cli(['models', 'compare', '--json']);
    const answer = JSON.parse(run.stdout) as CompareJson;
    assert.deepEqual(answer.notes, [`the service reports AUC 0.5 for the challenger; its score bins give ${compareQuality(FAIR, BETTER).challenger.metrics.auc.value}, the figure used here`]);
  });

  it('should print every failed gate condition, the verdict, and still exit 0 (compare only reports)', async () => {
    standIn.quality = answerWith({ [CHAMPION]: BETTER, [CHALLENGER]: binnedCounts([2, 2, 2, 2, 2, 2], [10, 10, 10, 10, 10, 10]) }, END);
    const run = await cli(['models', 'compare', '--min-recall-gain=-0.1']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /\n {2}- only 12 frauds with a known outcome for the challenger, need 50 \(--min-frauds\)\n/);
    assert.match(run.stdout, /\n {2}- challenger AUC 0\.5000 \[[0-9.]+, [0-9.]+\] vs champion 0\.\d{4}: difference lower bound -0\.\d{4} < 0\.0000 \(--max-auc-loss\)\n/);
    assert.match(run.stdout, /\(--max-ap-loss\)\n/);
    assert.match(run.stdout, /\(--min-recall-gain\)\n/);
    assert.match(run.stdout, /\nverdict: keep the champion; 4 gate conditions failed\n$/);
  });

  it('should compare named revisions without asking GetModelInfo, and count a revision without outcomes as none', async () => {
    standIn.serve(CHAMPION, undefined);
    const run = await cli(['models', 'compare', '--champion', CHAMPION, '--challenger', 'c'.repeat(64), '--json']);
    assert.equal(run.code, 0, run.stderr);
    const answer = JSON.parse(run.stdout) as CompareJson;
    assert.equal(answer.challenger.frauds, 0);
    assert.equal(answer.challenger.metrics.auc?.value, null);
    assert.match(answer.notes[0] ?? '', /^the service has no outcome joined to a score of the challenger \(c{64}\) in the last 7 days$/);
    assert.equal(answer.gate.passed, false);
  });

  it('should exit 1 and say how to name a challenger when the service has no shadow model', async () => {
    standIn.serve(CHAMPION, undefined);
    const run = await cli(['models', 'compare']);
    assert.equal(run.code, 1);
    assert.equal(run.stderr, 'error: the service has no binary shadow model loaded, so there is no challenger; configure one (FRAUD_BINARY_SHADOW_MODEL_URI) or give --challenger REVISION\n');
  });

  it('should exit 1 with the service\'s message when it keeps no quality (FAILED_PRECONDITION)', async () => {
    standIn.quality = undefined;
    const run = await cli(['models', 'compare']);
    assert.equal(run.code, 1);
    assert.equal(run.stderr, 'error: FAILED_PRECONDITION: model quality is not kept by this service\n');
  });

  it('should exit 2 on bad comparison options, before any call', async () => {
    for (const [option, message] of [
      [['--window', '0d'], '--window must be whole days from 1d to 90d, got 0d'],
      [['--window', '91d'], '--window must be whole days from 1d to 90d, got 91d'],
      [['--confidence', '95'], '--confidence must be between 0 and 1 (e.g. 0.95), got 95'],
      [['--max-auc-loss=-0.1'], '--max-auc-loss must be a number >= 0, got -0.1'],
      [['--min-frauds', 'many'], '--min-frauds must be a whole number, got many'],
      [['--task', 'ternary'], '--task must be binary or scenario, got ternary'],
    ] as const) {
      const run = await cli(['models', 'compare', ...option]);
      assert.equal(run.code, 2, option.join(' '));
      assert.equal(run.stderr, `error: ${message}\nrun fraud-cli --help for usage\n`);
    }
    assert.equal(standIn.qualityRequests.length, 0);
    assert.equal((await cli(['models', 'frobnicate'])).stderr, 'error: unknown command models frobnicate\nrun fraud-cli --help for usage\n');
    assert.equal((await cli(['models', 'compare', 'extra'])).code, 2);
  });

  it('models and models info should both print GetModelInfo', async () => {
    const plain = await cli(['models']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, new RegExp(`^binary \\(Predict\\): fraud-binary 1\\.0\\.0 \\(${CHAMPION}\\)\n`));
    assert.match(plain.stdout, new RegExp(`\nbinary shadow \\(challenger, answers nobody\\): fraud-binary 2\\.0\\.0 \\(${CHALLENGER}\\)\n`));
    assert.equal((await cli(['models', 'info'])).stdout, plain.stdout);
  });
});

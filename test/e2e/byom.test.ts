import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FraudCallError, FraudClient, type OutcomeInput, type TransactionInput } from '../../client/fraudClient.js';
import { ModelTask } from '../../src/gen/fraud/v1/fraud_service.js';
import { packageRoot } from '../../src/packageRoot.js';
import type { ExpectedAnswer } from '../helpers/modelFixtures.js';
import { startTestService, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

/**
 * Bring your own model, end to end: classifiers exported with skl2onnx and
 * onnxmltools (`training/run byom-examples`), packaged by a data scientist's
 * commands (`training/run package`), served by the service from the written
 * manifests, and every answer compared over gRPC with what Python onnxruntime
 * and the service's rules give (`training/run answers`, computed at packaging
 * time from the same event stream). A manifest `training/run verify` refuses
 * is refused by the service too, with the same words.
 */

const execFileAsync = promisify(execFile);
const TRAINING_RUN = join(packageRoot, 'training', 'run');
const CREATED_AT = '2026-03-01T00:00:00Z';
const STATELESS = 'TX_AMOUNT,TX_DURING_WEEKEND,TX_DURING_NIGHT';
/** Probabilities are float32 model outputs on both sides: anything beyond rounding is a different answer. */
const TOLERANCE = 1e-6;

interface Packaging {
  readonly name: string;
  readonly file: string;
  readonly task: 'binary' | 'multiclass';
  /** What the person tells `package` that the model cannot say. */
  readonly options: readonly string[];
}

/** The example models and how a data scientist would package each (training/README.md shows the same). */
const PACKAGING: readonly Packaging[] = [
  { name: 'forest', file: 'forest.onnx', task: 'binary', options: ['--features', STATELESS] },
  {
    name: 'logistic',
    file: 'logistic-float64.onnx',
    task: 'binary',
    options: ['--features', STATELESS, '--class-labels', 'legit,fraud', '--legitimate-class', 'legit'],
  },
  { name: 'xgboost', file: 'xgboost.onnx', task: 'binary', options: [] },
  { name: 'scenarios', file: 'scenarios.onnx', task: 'multiclass', options: ['--features', STATELESS, '--legitimate-class', 'legitimate'] },
  // Trained on the strings legit/fraud, exported with zipmap=False: the members name [0, 1], the label output the classes.
  ...['voting', 'bagging', 'stacking'].map((name): Packaging => ({ name, file: `${name}.onnx`, task: 'binary', options: ['--features', STATELESS, '--legitimate-class', 'legit'] })),
  { name: 'one-vs-rest', file: 'one-vs-rest.onnx', task: 'multiclass', options: ['--features', STATELESS, '--legitimate-class', 'legitimate'] },
];

interface Manifest {
  readonly name: string;
  readonly version: string;
  readonly sha256: string;
  readonly model_file: string;
  readonly features: string[];
  readonly classes: { id: number; label: string }[];
  readonly legitimate_class: string;
  readonly samples: unknown[];
  readonly [key: string]: unknown;
}

interface AnswerFile {
  readonly name: string;
  readonly version: string;
  readonly service_classes: { id: number; label: string; column: number }[];
  /** model_label: what the model's own label output names the transaction. */
  readonly cases: { transaction_id: number; model_output: number[]; model_label?: string | number; answer: ExpectedAnswer }[];
}

interface ReplayEvent {
  readonly transaction?: { transaction_id: number; customer_id: number; terminal_id: number; tx_amount: number; tx_time_seconds: number };
  readonly outcome?: { transaction_id: number; outcome: 'fraud' | 'legitimate'; known_at_seconds: number };
}

/** An answer as the service gave it, by transaction id. */
interface Served {
  readonly prediction: string;
  readonly classId: number;
  readonly classProbability: number;
  readonly fraudProbability: number;
  readonly probabilities: readonly number[];
}

async function training(args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(TRAINING_RUN, args, { maxBuffer: 16 * 1024 * 1024 });
}

/** What `training/run` says on failure: its exit code and its one-line error. */
async function trainingFailure(args: readonly string[]): Promise<{ code: number; stderr: string }> {
  try {
    await training(args);
  } catch (error) {
    const failed = error as { code?: number; stderr?: string };
    return { code: failed.code ?? -1, stderr: failed.stderr ?? '' };
  }
  throw new Error(`training/run ${args.join(' ')} succeeded`);
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

function manifestPath(folder: string, packaging: Packaging): string {
  return join(folder, packaging.name, packaging.file.replace(/\.onnx$/, '.json'));
}

/**
 * The event stream through the service as production sends it: transactions
 * by PredictBatch and PredictScenarioBatch in arrival order, fraud outcomes
 * by ReportOutcomeBatch where they arrive (a batch of transactions ends
 * there); legitimate outcomes change no feature, so they go in large batches.
 */
async function feed(client: FraudClient, events: readonly ReplayEvent[], scenario: boolean): Promise<{ binary: Map<number, Served>; scenario: Map<number, Served> }> {
  const served = { binary: new Map<number, Served>(), scenario: new Map<number, Served>() };
  let transactions: TransactionInput[] = [];
  let legitimate: OutcomeInput[] = [];
  const flush = async (): Promise<void> => {
    if (transactions.length === 0) return;
    const binary = await client.predictBatch(transactions);
    for (const answer of binary.predictions) served.binary.set(Number(answer.transactionId), answer);
    if (scenario) {
      const scenarios = await client.predictScenarioBatch(transactions);
      for (const answer of scenarios.predictions) served.scenario.set(Number(answer.transactionId), answer);
    }
    transactions = [];
  };
  for (const event of events) {
    if (event.transaction !== undefined) {
      const { transaction_id, customer_id, terminal_id, tx_amount, tx_time_seconds } = event.transaction;
      transactions.push({ transactionId: transaction_id, customerId: customer_id, terminalId: terminal_id, txAmount: tx_amount, txTimeSeconds: tx_time_seconds });
      if (transactions.length === 1_000) await flush();
    } else if (event.outcome !== undefined) {
      const outcome: OutcomeInput = { transactionId: event.outcome.transaction_id, outcome: event.outcome.outcome, knownAtSeconds: event.outcome.known_at_seconds };
      if (outcome.outcome === 'legitimate') {
        legitimate.push(outcome);
        if (legitimate.length === 1_000) {
          await client.reportOutcomes(legitimate);
          legitimate = [];
        }
      } else {
        await flush();
        await client.reportOutcomes([outcome]);
      }
    }
  }
  await flush();
  if (legitimate.length > 0) await client.reportOutcomes(legitimate);
  return served;
}

interface Comparison {
  readonly compared: number;
  readonly maxDifference: number;
  readonly problems: string[];
}

/** Every expected answer against the served one: labels and class ids equal, probabilities within TOLERANCE. */
function compare(expected: AnswerFile, served: ReadonlyMap<number, Served>): Comparison {
  const problems: string[] = [];
  let maxDifference = 0;
  for (const { transaction_id: id, answer } of expected.cases) {
    const got = served.get(id);
    if (got === undefined) {
      problems.push(`transaction ${id}: not answered`);
      continue;
    }
    if (got.prediction !== answer.prediction || got.classId !== answer.class_id) {
      problems.push(`transaction ${id}: ${got.prediction} (${got.classId}), Python onnxruntime ${answer.prediction} (${answer.class_id})`);
    }
    const pairs: [number, number][] = [
      [got.fraudProbability, answer.fraud_probability],
      [got.classProbability, answer.class_probability],
      ...answer.probabilities.map((value, index): [number, number] => [got.probabilities[index] ?? Number.NaN, value]),
    ];
    if (got.probabilities.length !== answer.probabilities.length) problems.push(`transaction ${id}: ${got.probabilities.length} probabilities`);
    for (const [actual, wanted] of pairs) {
      const difference = Math.abs(actual - wanted);
      maxDifference = Math.max(maxDifference, Number.isNaN(difference) ? Infinity : difference);
      if (!(difference <= TOLERANCE)) problems.push(`transaction ${id}: ${actual} where Python onnxruntime gives ${wanted}`);
    }
  }
  return { compared: expected.cases.length, maxDifference, problems };
}

/**
 * The served prediction against the model's own label output, transaction by
 * transaction (ties of the two largest probabilities left out): independent of the
 * manifest, so a class order read wrongly by package, verify and the service
 * alike (which compare() cannot see) shows here.
 */
function disagreementsWithTheModelsLabels(expected: AnswerFile, served: ReadonlyMap<number, Served>): { compared: number; problems: string[] } {
  const problems: string[] = [];
  let compared = 0;
  for (const { transaction_id: id, model_output: output, model_label: label } of expected.cases) {
    const [first, second] = [...output].sort((a, b) => b - a);
    if (label === undefined || first === undefined || second === undefined || first - second < 1e-6) continue;
    compared += 1;
    const got = served.get(id);
    if (got?.prediction !== String(label)) problems.push(`transaction ${id}: served ${got?.prediction ?? 'nothing'}, the model's label output says ${label}`);
  }
  return { compared, problems };
}

describe('bring your own model: packaged with training/run, served with the answers of Python onnxruntime', function () {
  this.timeout(600_000);
  let folder = '';
  let events: ReplayEvent[] = [];
  const answers = new Map<string, AnswerFile>();
  const manifests = new Map<string, Manifest>();

  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'fraud-byom-'));
    await training(['byom-examples', '--out', folder]);
    for (const packaging of PACKAGING) {
      await training([
        'package',
        join(folder, packaging.file),
        '--task',
        packaging.task,
        ...packaging.options,
        '--name',
        `byom-${packaging.name}`,
        '--created-at',
        CREATED_AT,
        '--out',
        join(folder, packaging.name),
      ]);
      manifests.set(packaging.name, await readJson<Manifest>(manifestPath(folder, packaging)));
    }
    const eventsFile = join(folder, 'events.jsonl');
    await training(['answers', ...PACKAGING.map((packaging) => manifestPath(folder, packaging)), '--events', eventsFile, '--out', join(folder, 'answers')]);
    for (const packaging of PACKAGING) {
      answers.set(packaging.name, await readJson<AnswerFile>(join(folder, 'answers', `${packaging.file.replace(/\.onnx$/, '')}.answers.json`)));
    }
    events = (await readFile(eventsFile, 'utf8'))
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as ReplayEvent);
  });

  after(async () => {
    if (folder !== '') await rm(folder, { recursive: true, force: true });
  });

  /** The service on packaged manifests; checks that GetModelInfo shows exactly those versions. */
  async function serve(binary: string, scenario?: string): Promise<TestService> {
    const env: Record<string, string> = { FRAUD_BINARY_MODEL_URI: manifestPath(folder, packagingOf(binary)), FRAUD_MAX_BATCH_SIZE: '1000' };
    if (scenario !== undefined) env.FRAUD_SCENARIO_MODEL_URI = manifestPath(folder, packagingOf(scenario));
    const service = await startTestService(env);
    try {
      const { models } = await service.client.getModelInfo();
      const slots: [ModelTask, string][] = [[ModelTask.MODEL_TASK_BINARY, binary]];
      if (scenario !== undefined) slots.push([ModelTask.MODEL_TASK_MULTICLASS, scenario]);
      for (const [task, name] of slots) {
        const info = models.find((entry) => entry.task === task);
        const manifest = manifests.get(name);
        assert.ok(info?.serving === true && manifest !== undefined, name);
        assert.deepEqual([info.model?.name, info.model?.version, info.sha256, info.features], [manifest.name, manifest.version, manifest.sha256, manifest.features]);
        assert.deepEqual(
          info.classes.map(({ id, label }) => ({ id, label })),
          answers.get(name)?.service_classes.map(({ id, label }) => ({ id, label })),
        );
      }
      return service;
    } catch (error) {
      await service.stop();
      throw error;
    }
  }

  function packagingOf(name: string): Packaging {
    const packaging = PACKAGING.find((entry) => entry.name === name);
    assert.ok(packaging !== undefined, name);
    return packaging;
  }

  function report(name: string, comparison: Comparison): void {
    const fraud = answers.get(name)?.cases.filter((entry) => entry.answer.class_id !== 0).length ?? 0;
    console.log(`      ${name}: ${comparison.compared} transactions (${fraud} not legitimate), max |difference| ${comparison.maxDifference.toExponential(2)}, ${comparison.problems.length} problems`);
    assert.deepEqual(comparison.problems.slice(0, 10), []);
    assert.ok(comparison.compared > 1_000);
  }

  it('should serve an XGBoost model over history features and a string-labelled multiclass forest, answering every transaction as Python does', async () => {
    const service = await serve('xgboost', 'scenarios');
    try {
      const served = await feed(service.client, events, true);
      report('xgboost', compare(answers.get('xgboost') as AnswerFile, served.binary));
      report('scenarios', compare(answers.get('scenarios') as AnswerFile, served.scenario));
    } finally {
      await service.stop();
    }
  });

  for (const name of ['forest', 'logistic']) {
    const what = name === 'forest' ? 'a skl2onnx random forest (ZipMap)' : 'a float64 logistic regression of plain operators, its classes named by --class-labels';
    it(`should serve ${what}, answering every transaction as Python does`, async () => {
      const service = await serve(name);
      try {
        report(name, compare(answers.get(name) as AnswerFile, (await feed(service.client, events, false)).binary));
      } finally {
        await service.stop();
      }
    });
  }

  it('should serve string-labelled ensembles and a one-vs-rest model exported without ZipMap as Python does, predicting what the model itself labels', async () => {
    const ensembles = ['voting', 'bagging', 'stacking'];
    for (const [index, name] of ensembles.entries()) {
      assert.deepEqual(manifests.get(name)?.classes, [{ id: 0, label: 'fraud' }, { id: 1, label: 'legit' }], name);
      const scenario = index === 0 ? 'one-vs-rest' : undefined;
      const service = await serve(name, scenario);
      try {
        const served = await feed(service.client, events, scenario !== undefined);
        for (const [model, answered] of [[name, served.binary], ...(scenario === undefined ? [] : [[scenario, served.scenario] as const])] as const) {
          const expected = answers.get(model) as AnswerFile;
          report(model, compare(expected, answered));
          const labels = disagreementsWithTheModelsLabels(expected, answered);
          assert.deepEqual(labels.problems.slice(0, 10), [], model);
          assert.ok(labels.compared > 1_000, `${model}: ${labels.compared} transactions with a clear label`);
        }
      } finally {
        await service.stop();
      }
    }
  });

  it('should refuse, as training/run verify does and with its words, a packaged model whose manifest reorders the classes', async () => {
    const source = manifests.get('scenarios');
    assert.ok(source !== undefined);
    const refusedFolder = join(folder, 'reordered');
    await mkdir(refusedFolder, { recursive: true });
    await copyFile(join(folder, 'scenarios', source.model_file), join(refusedFolder, source.model_file));
    // The mistake a person makes by hand: the legitimate class first, as the labels were given in training.
    const labels = [source.legitimate_class, ...source.classes.map((entry) => entry.label).filter((label) => label !== source.legitimate_class)];
    const reordered = { ...source, classes: labels.map((label, id) => ({ id, label })) };
    const path = join(refusedFolder, 'scenarios.json');
    await writeFile(path, JSON.stringify(reordered, null, 2));
    const message =
      /the model's classes are \[compromised_card, compromised_terminal, legitimate, over_220\] \(classlabels_strings of ZipMap node \w+\), the manifest's classes are \[legitimate, compromised_card, compromised_terminal, over_220\]/;

    const verify = await trainingFailure(['verify', path]);
    assert.equal(verify.code, 1);
    assert.match(verify.stderr, message);

    const service = await startTestService({ FRAUD_SCENARIO_MODEL_URI: path }, false);
    try {
      const info = await waitFor('the multiclass refusal in GetModelInfo', async () => {
        const { models } = await service.client.getModelInfo();
        const entry = models.find((candidate) => candidate.task === ModelTask.MODEL_TASK_MULTICLASS);
        return entry !== undefined && entry.lastError !== '' ? entry : undefined;
      });
      assert.equal(info.serving, false);
      assert.match(info.lastError, message);
      await assert.rejects(service.client.predictScenario({ transactionId: 1, customerId: 1, terminalId: 1, txAmount: 10, txTimeSeconds: 0 }), (error: unknown) => {
        assert.ok(error instanceof FraudCallError);
        assert.match(error.message, /UNAVAILABLE: no multiclass model is serving: .*the model's classes are/);
        return true;
      });
    } finally {
      await service.stop();
    }
  });
});

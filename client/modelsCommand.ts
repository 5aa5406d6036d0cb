import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { UsageError, type Values } from './cliOptions.js';
import { comparisonJson, comparisonText, verdict } from './comparisonReport.js';
import type { FraudClient } from './fraudClient.js';
import { isLakefsCommitId, LakefsApi, LakefsError } from './lakefsApi.js';
import { compareModels, type ComparisonRequest, type ModelComparison } from './modelComparison.js';
import { DEFAULT_GATE, figure, type GateOptions } from './qualityGate.js';

/**
 * `fraud-cli models compare | promote | rollback`: the champion against the
 * challenger from the service's live quality, promotion as a lakeFS merge of
 * the candidate branch into the serving branch when the gate passes, and
 * rollback as a revert of the serving branch's last commit. The service then
 * swaps models as for any merge (docs/lakefs-workflow.md).
 */

export interface ModelsIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: Readonly<Record<string, string | undefined>>;
}

type QualityClient = Pick<FraudClient, 'getModelInfo' | 'getModelQuality'>;

function number(value: string | undefined, option: string, fallback: number, valid: (parsed: number) => boolean, expected: string): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || !valid(parsed)) throw new UsageError(`${option} must be ${expected}, got ${value}`);
  return parsed;
}

/** `7d` or `7`: whole days, 1 to 90 (the service's longest window). */
function windowDays(value: string | undefined): number {
  if (value === undefined) return 7;
  const match = /^(\d+)d?$/.exec(value);
  const days = Number(match?.[1]);
  if (match === null || days < 1 || days > 90) throw new UsageError(`--window must be whole days from 1d to 90d, got ${value}`);
  return days;
}

export function comparisonRequest(values: Values): ComparisonRequest {
  const task = values.task ?? 'binary';
  if (task !== 'binary' && task !== 'scenario') throw new UsageError(`--task must be binary or scenario, got ${task}`);
  const gate: GateOptions = {
    minFrauds: number(values['min-frauds'], '--min-frauds', DEFAULT_GATE.minFrauds, Number.isInteger, 'a whole number'),
    maxAucLoss: number(values['max-auc-loss'], '--max-auc-loss', DEFAULT_GATE.maxAucLoss, (loss) => loss >= 0, 'a number >= 0'),
    maxApLoss: number(values['max-ap-loss'], '--max-ap-loss', DEFAULT_GATE.maxApLoss, (loss) => loss >= 0, 'a number >= 0'),
    minRecallGain: values['min-recall-gain'] === undefined ? undefined : number(values['min-recall-gain'], '--min-recall-gain', 0, () => true, 'a number'),
  };
  return {
    task,
    champion: values.champion,
    challenger: values.challenger,
    windowDays: windowDays(values.window),
    statistics: {
      confidence: number(values.confidence, '--confidence', 0.95, (level) => level > 0 && level < 1, 'between 0 and 1 (e.g. 0.95)'),
      resamples: number(values.resamples, '--resamples', 2_000, (count) => Number.isInteger(count) && count >= 100 && count <= 100_000, 'a whole number from 100 to 100000'),
      seed: number(values.seed, '--seed', 1, Number.isInteger, 'a whole number'),
    },
    gate,
  };
}

interface LakefsTarget {
  readonly api: LakefsApi;
  readonly repository: string;
}

/** The lakeFS endpoint and repository from the options, the key pair from the environment only. */
export function lakefsTarget(values: Values, env: ModelsIo['env']): LakefsTarget {
  const endpoint = values['lakefs-endpoint'];
  if (endpoint === undefined) throw new UsageError('--lakefs-endpoint URL is required (the lakeFS server, e.g. http://lakefs:8000)');
  const repository = values.repository;
  if (repository === undefined) throw new UsageError('--repository NAME is required (the lakeFS repository holding the models)');
  const accessKeyId = env.LAKEFS_ACCESS_KEY_ID ?? '';
  const secretAccessKey = env.LAKEFS_SECRET_ACCESS_KEY ?? '';
  if (accessKeyId === '' || secretAccessKey === '') {
    throw new UsageError('set LAKEFS_ACCESS_KEY_ID and LAKEFS_SECRET_ACCESS_KEY to a lakeFS access key pair (read from the environment only, never from the command line)');
  }
  const caFile = values['lakefs-ca-file'];
  let ca: Buffer | undefined;
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile);
    } catch (error) {
      throw new UsageError(`cannot read --lakefs-ca-file ${caFile} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
  }
  try {
    return { api: new LakefsApi({ endpoint, accessKeyId, secretAccessKey, ca }), repository };
  } catch (error) {
    if (error instanceof LakefsError) throw new UsageError(error.message);
    throw error;
  }
}

export async function runCompare(client: QualityClient, request: ComparisonRequest, json: boolean, io: ModelsIo): Promise<ModelComparison> {
  const comparison = await compareModels(client, request);
  io.stdout.write(json ? `${JSON.stringify(comparisonJson(comparison))}\n` : comparisonText(comparison));
  return comparison;
}

export interface PromoteOptions {
  readonly source: string;
  readonly destination: string;
  readonly dryRun: boolean;
  readonly force: boolean;
  readonly json: boolean;
}

/**
 * Compares, then merges the candidate into the serving branch if the gate
 * passes (or `force`), and only if the candidate's head is the very commit
 * the challenger's figures are about. The merge names that commit, not the
 * branch, so a commit landing on the candidate between the check and the
 * merge is not promoted with it. Exit code 0 merged (or would, with dryRun), 1 refused.
 */
export async function runPromote(client: QualityClient, request: ComparisonRequest, target: LakefsTarget, options: PromoteOptions, io: ModelsIo): Promise<number> {
  const comparison = await compareModels(client, request);
  const refuse = (reason: string): number => {
    io.stderr.write(`refused: ${reason}\n`);
    if (options.json) io.stdout.write(`${JSON.stringify({ comparison: comparisonJson(comparison), promotion: { merged: false, refused: reason } })}\n`);
    return 1;
  };
  if (!options.json) io.stdout.write(comparisonText(comparison));
  if (!comparison.gate.passed && !options.force) return refuse(`${verdict(comparison).replace('verdict: ', '')}; nothing merged (--force merges without the gate)`);
  if (!comparison.gate.passed) {
    io.stderr.write(`WARNING: --force: merging although the gate FAILED:\n${comparison.gate.failures.map((failure) => `WARNING:   - ${failure}\n`).join('')}`);
  }
  const { api, repository } = target;
  const challenger = comparison.challenger.revision;
  if (!isLakefsCommitId(challenger)) {
    return refuse(`the challenger's revision ${challenger} is not a lakeFS commit id, so it cannot be matched to ${options.source}: the shadow model must be read through lakeFS with commit resolution (FRAUD_LAKEFS_API_ENDPOINT)`);
  }
  const sourceHead = await api.branchHead(repository, options.source);
  if (sourceHead !== challenger) {
    return refuse(`the candidate branch moved since it was scored: ${options.source} is at ${sourceHead}, the challenger compared is ${challenger}; compare again once the service shadows the new commit and has outcomes for it`);
  }
  const destinationHead = await api.branchHead(repository, options.destination);
  if (isLakefsCommitId(comparison.champion.revision) && destinationHead !== comparison.champion.revision) {
    io.stderr.write(`note: ${options.destination} is at ${destinationHead}, but the champion compared is ${comparison.champion.revision} (the service has not picked up ${options.destination}'s head, or reads another ref)\n`);
  }
  if (options.dryRun) {
    io.stderr.write(`dry run: would merge ${options.source} (${sourceHead}) into ${options.destination} (${destinationHead})\n`);
    if (options.json) io.stdout.write(`${JSON.stringify({ comparison: comparisonJson(comparison), promotion: { merged: false, dryRun: true, sourceCommit: sourceHead, destinationHead } })}\n`);
    return 0;
  }
  const metrics = comparison.quality.challenger.metrics;
  const merged = await api.merge(
    repository,
    sourceHead,
    options.destination,
    `promote ${comparison.challenger.name} ${comparison.challenger.version} from ${options.source} over ${comparison.champion.version}${options.force && !comparison.gate.passed ? ' (FORCED past a failed gate)' : ''}`,
    {
      promoted_by: 'fraud-cli models promote',
      source_branch: options.source,
      champion_revision: comparison.champion.revision,
      gate: comparison.gate.passed ? 'passed' : 'forced',
      auc: figure(metrics.auc.value),
      average_precision: figure(metrics.averagePrecision.value),
      window_days: String(request.windowDays),
    },
  );
  if (options.json) {
    io.stdout.write(`${JSON.stringify({ comparison: comparisonJson(comparison), promotion: { merged: true, forced: !comparison.gate.passed, sourceCommit: sourceHead, previousHead: destinationHead, mergeCommit: merged } })}\n`);
  } else {
    io.stdout.write(`merged ${options.source} (${sourceHead}) into ${options.destination}: merge commit ${merged}\n`);
  }
  return 0;
}

/**
 * Reverts the serving branch's head commit (relative to its first parent: the
 * branch's previous state, for the merge a promotion made). Exit code 0
 * reverted, 1 nothing to go back to.
 */
export async function runRollback(target: LakefsTarget, branch: string, options: { dryRun: boolean; json: boolean }, io: ModelsIo): Promise<number> {
  const { api, repository } = target;
  const head = await api.branchHead(repository, branch);
  const commit = await api.commit(repository, head);
  if (commit.parents.length === 0) {
    io.stderr.write(`refused: ${branch} has no parent commit to go back to (its head ${head} is the repository's first commit)\n`);
    return 1;
  }
  if (options.dryRun) {
    io.stderr.write(`dry run: would revert ${branch}'s head ${head} ("${commit.message}") back to ${commit.parents[0] ?? '?'}'s objects\n`);
    return 0;
  }
  await api.revert(repository, branch, head, 1);
  const newHead = await api.branchHead(repository, branch);
  // A commit landing between reading the head and the revert: the revert undid `head` on top of it, so the objects are not simply the parent's.
  const [revertedOnto] = (await api.commit(repository, newHead)).parents;
  if (revertedOnto !== head) io.stderr.write(`note: ${branch} moved during the rollback: ${head} was reverted on top of ${revertedOnto ?? '?'}; check ${branch}'s objects\n`);
  io.stdout.write(
    options.json
      ? `${JSON.stringify({ branch, previousHead: head, reverted: commit.message, restoredParent: commit.parents[0], newHead })}\n`
      : `rolled back ${branch}: head was ${head} ("${commit.message}"), now ${newHead} (the objects of ${commit.parents[0] ?? '?'})\n`,
  );
  return 0;
}

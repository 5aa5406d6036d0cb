import { status } from '@grpc/grpc-js';
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import {
  GetModelInfoResponse,
  ModelTask,
  PredictResponse,
  PredictScenarioResponse,
  FraudPrediction,
  ScenarioPrediction,
  type ModelRef,
} from '../src/gen/fraud/v1/fraud_service.js';
import { cliSecurity, type CliSecurity } from './cliSecurity.js';
import { connectionFailure } from './connectionFailure.js';
import { tlsFailure } from './tlsFailure.js';
import { fileFormat, OPTIONS, outcomeFrom, positiveInteger, transactionFrom, USAGE, UsageError, type Values } from './cliOptions.js';
import { FraudCallError, type FraudClient, type HealthStatus } from './fraudClient.js';
import { readOutcomes } from './outcomeFile.js';
import { reportOutcomes } from './outcomeCommand.js';
import { LakefsError } from './lakefsApi.js';
import { ComparisonError } from './modelComparison.js';
import { comparisonRequest, lakefsTarget, runCompare, runPromote, runRollback } from './modelsCommand.js';
import { MAX_PER_STREAM_MESSAGE, streamedGroups } from './predictStream.js';
import { ProgressBar } from './progressBar.js';
import { readHistory, readTransactions, TransactionFileError, type TransactionFileFormat } from './transactionFile.js';
import { warmStart, WarmStartError } from './warmStart.js';

/** What the CLI needs of a client, so tests can hand it a real one bound to a test server. */
export type CliClient = Pick<
  FraudClient,
  'predict' | 'predictScenario' | 'predictBatch' | 'predictStream' | 'reportOutcomes' | 'getModelInfo' | 'getModelQuality' | 'checkHealth' | 'scoreAll' | 'close'
>;

export interface CliIo {
  readonly stdout: Writable;
  readonly stderr: Writable & { isTTY?: boolean };
  readonly stdin: Readable;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface ClientSettings extends CliSecurity {
  readonly address: string;
  readonly deadlineMs: number;
}


/**
 * The fraud-cli commands. I/O and the client come in as parameters, so the
 * whole CLI runs in tests against a real server without a terminal.
 */
export class Cli {
  constructor(
    private readonly io: CliIo,
    private readonly connect: (settings: ClientSettings) => CliClient,
  ) {}

  /** Runs one command line; resolves with the exit code. */
  async run(argv: readonly string[]): Promise<number> {
    let values: Values;
    let command: string | undefined;
    try {
      const parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
      values = parsed.values;
      command = parsed.positionals[0];
      // `models` takes a subcommand (info, compare, promote, rollback); no other command takes an argument.
      if (command === 'models' && parsed.positionals[1] !== undefined) command = `models ${parsed.positionals[1]}`;
      const extra = parsed.positionals[command?.startsWith('models ') === true ? 2 : 1];
      if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`);
    } catch (error) {
      return this.usage((error as Error).message);
    }
    if (values.help || command === undefined) {
      this.io.stdout.write(`${USAGE}\n`);
      return command === undefined && !values.help ? 2 : 0;
    }
    let client: CliClient | undefined;
    const address = values.address ?? this.io.env.FRAUD_ADDRESS ?? 'localhost:50051';
    try {
      const settings = { address, deadlineMs: positiveInteger(values['deadline-ms'], '--deadline-ms', 5_000), ...cliSecurity(values, this.io.env) };
      const run = this.command(command, values);
      client = this.connect(settings);
      return await run(client);
    } catch (error) {
      if (error instanceof UsageError) return this.usage(error.message);
      if (error instanceof FraudCallError) return this.callFailed(error, address, values);
      if (error instanceof ComparisonError || error instanceof LakefsError) {
        this.io.stderr.write(`error: ${error.message}\n`);
        return 1;
      }
      if (error instanceof WarmStartError) {
        this.io.stderr.write(`error: ${error.message}\n`);
        return 2;
      }
      if (error instanceof TransactionFileError) {
        this.io.stderr.write(`error: input ${error.message}\n`);
        return 2;
      }
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
        this.io.stderr.write(`error: cannot read --input ${values.input ?? ''} (${code})\n`);
        return 2;
      }
      throw error;
    } finally {
      client?.close();
    }
  }

  private command(name: string, values: Values): (client: CliClient) => Promise<number> {
    switch (name) {
      case 'predict': {
        const transaction = transactionFrom(values);
        return async (client) => {
          this.printPredict(await client.predict(transaction, { explain: values.explain }), values.json);
          return 0;
        };
      }
      case 'scenario': {
        const transaction = transactionFrom(values);
        return async (client) => {
          this.printScenario(await client.predictScenario(transaction, { explain: values.explain }), values.json);
          return 0;
        };
      }
      case 'batch':
        return this.batch(values);
      case 'warm-start':
        return this.warmStart(values);
      case 'outcome':
        return this.outcome(values);
      case 'models':
      case 'models info':
        return async (client) => {
          this.printModels(await client.getModelInfo(), values.json);
          return 0;
        };
      case 'models compare': {
        const request = comparisonRequest(values);
        return async (client) => {
          await runCompare(client, request, values.json, this.io);
          return 0;
        };
      }
      case 'models promote': {
        const request = comparisonRequest(values);
        const target = lakefsTarget(values, this.io.env);
        const options = { source: values.source ?? 'candidate', destination: values.destination ?? 'main', dryRun: values['dry-run'], force: values.force, json: values.json };
        return (client) => runPromote(client, request, target, options, this.io);
      }
      case 'models rollback': {
        const target = lakefsTarget(values, this.io.env);
        return () => runRollback(target, values.branch ?? 'main', { dryRun: values['dry-run'], json: values.json }, this.io);
      }
      case 'health':
        return async (client) => {
          const health = await client.checkHealth(values.service ?? '');
          this.printHealth(values.service ?? '', health, values.json);
          return health === 'SERVING' ? 0 : 1;
        };
      default:
        throw new UsageError(`unknown command ${name}`);
    }
  }

  private batch(values: Values): (client: CliClient) => Promise<number> {
    const task = values.task ?? 'binary';
    if (task !== 'binary' && task !== 'scenario') throw new UsageError(`--task must be binary or scenario, got ${task}`);
    const batchSize = positiveInteger(values['batch-size'], '--batch-size', 1_000);
    // Still checked, so command lines that worked go on working; one PredictStream scores the file, with no calls to run side by side.
    positiveInteger(values.concurrency, '--concurrency', 4);
    const format = fileFormat(values.input, values.format);
    return async (client) => {
      const input = values.input === undefined || values.input === '-' ? this.io.stdin : createReadStream(values.input);
      const progress = new ProgressBar(this.io.stderr, 'scored');
      const counts = new Map<string, number>();
      const started = Date.now();
      let model: ModelRef | undefined;
      let scored = 0;
      const onProgress = (done: number): void => {
        progress.update(done);
      };
      const transactions = readTransactions(input, format);
      const answers = streamedGroups(client.predictStream(transactions, { perMessage: Math.min(batchSize, MAX_PER_STREAM_MESSAGE), task }), batchSize, onProgress);
      for await (const answer of answers) {
        model = answer.model;
        for (const prediction of answer.predictions) {
          counts.set(prediction.prediction, (counts.get(prediction.prediction) ?? 0) + 1);
          this.io.stdout.write(
            values.json
              ? `${JSON.stringify(task === 'binary' ? FraudPrediction.toJSON(prediction) : ScenarioPrediction.toJSON(prediction))}\n`
              : `${prediction.transactionId}\t${prediction.prediction}\t${prediction.classProbability.toFixed(4)}\n`,
          );
        }
        scored += answer.predictions.length;
      }
      progress.finish(scored);
      const seconds = (Date.now() - started) / 1000;
      const summary = [...counts].map(([label, count]) => `${label} ${count}`).join(', ');
      this.io.stderr.write(
        `scored ${scored} transactions in ${seconds.toFixed(2)} s (${Math.round(scored / Math.max(seconds, 0.001))}/s)` +
          `${summary ? `: ${summary}` : ''}${model ? `; model ${describeModel(model)}` : ''}\n`,
      );
      return 0;
    };
  }

  private warmStart(values: Values): (client: CliClient) => Promise<number> {
    const input = values.input;
    if (input === undefined || input === '-') throw new UsageError('warm-start needs --input PATH (a file, so that a checkpoint can name it)');
    const format = fileFormat(input, values.format);
    const batchSize = positiveInteger(values['batch-size'], '--batch-size', 5_000);
    const delayDays = positiveInteger(values['outcome-delay-days'], '--outcome-delay-days', 7);
    return async (client) => {
      const total = await countRows(input, format);
      const progress = new ProgressBar(this.io.stderr, 'loaded');
      const started = Date.now();
      const summary = await warmStart(client, readHistory(createReadStream(input), format), resolve(input), {
        batchSize,
        outcomeDelaySeconds: delayDays * 86_400,
        checkpointPath: values.checkpoint,
        onProgress: (rows) => {
          progress.update(rows, total);
        },
      });
      progress.finish(summary.rows);
      const seconds = (Date.now() - started) / 1000;
      const rate = Math.round(summary.transactions / Math.max(seconds, 0.001));
      if (values.json) {
        this.io.stdout.write(`${JSON.stringify({ ...summary, seconds, transactionsPerSecond: rate })}
`);
      } else {
        const outcomes = Object.entries(summary.outcomes).map(([status, count]) => `${status} ${count}`).join(', ') || 'none';
        this.io.stderr.write(
          `warm start: ${summary.transactions} transactions${summary.resumedFrom > 0 ? ` (resumed after row ${summary.resumedFrom})` : ''} ` +
            `in ${seconds.toFixed(1)} s (${rate}/s); fraud outcomes: ${outcomes}\n`,
        );
      }
      return 0;
    };
  }

  /** One outcome from the options, or a file of them with --input; exit 1 when one was not recorded. */
  private outcome(values: Values): (client: CliClient) => Promise<number> {
    const batchSize = positiveInteger(values['batch-size'], '--batch-size', 1_000);
    const fromFile = values.input !== undefined;
    const format = fromFile ? fileFormat(values.input, values.format) : undefined;
    const single = fromFile ? undefined : outcomeFrom(values);
    return async (client) => {
      const started = Date.now();
      const input = values.input === '-' ? this.io.stdin : values.input === undefined ? undefined : createReadStream(values.input);
      const outcomes = single === undefined ? readOutcomes(input ?? this.io.stdin, format ?? 'csv') : [single];
      const summary = await reportOutcomes(client, outcomes, { batchSize, json: values.json, stdout: this.io.stdout });
      if (fromFile) {
        const seconds = (Date.now() - started) / 1000;
        const counts = [...summary.counts].map(([name, count]) => `${name} ${count}`).join(', ');
        this.io.stderr.write(`reported ${summary.reported} outcomes in ${seconds.toFixed(2)} s${counts ? `: ${counts}` : ''}\n`);
      }
      return summary.refused ? 1 : 0;
    };
  }

  private printPredict(response: PredictResponse, json: boolean): void {
    if (json) {
      this.io.stdout.write(`${JSON.stringify(PredictResponse.toJSON(response))}\n`);
      return;
    }
    const comparison = response.classId === 1 ? '>=' : '<';
    this.io.stdout.write(
      `${response.prediction}  probability ${response.classProbability.toFixed(4)}` +
        ` (fraud probability ${response.fraudProbability.toFixed(4)} ${comparison} threshold ${response.threshold})\n` +
        `transaction ${response.transactionId} · model ${describeModel(response.model)}\n` +
        describeFeatures(response.features),
    );
  }

  private printScenario(response: PredictScenarioResponse, json: boolean): void {
    if (json) {
      this.io.stdout.write(`${JSON.stringify(PredictScenarioResponse.toJSON(response))}\n`);
      return;
    }
    const classes = response.probabilities.map((probability, classId) => `class ${classId}: ${probability.toFixed(4)}`).join(', ');
    this.io.stdout.write(
      `${response.prediction}  probability ${response.classProbability.toFixed(4)} (fraud of any scenario ${response.fraudProbability.toFixed(4)})\n` +
        `${classes}\ntransaction ${response.transactionId} · model ${describeModel(response.model)}\n` +
        describeFeatures(response.features),
    );
  }

  private printModels(response: GetModelInfoResponse, json: boolean): void {
    if (json) {
      this.io.stdout.write(`${JSON.stringify(GetModelInfoResponse.toJSON(response))}\n`);
      return;
    }
    // The serving models, then the challengers scored in their shadow.
    for (const [info, shadow] of [...response.models.map((model) => [model, false] as const), ...response.shadows.map((model) => [model, true] as const)]) {
      const task = `${info.task === ModelTask.MODEL_TASK_BINARY ? 'binary' : 'multiclass'}${shadow ? ' shadow (challenger, answers nobody)' : info.task === ModelTask.MODEL_TASK_BINARY ? ' (Predict)' : ' (PredictScenario)'}`;
      const lines = [`${task}: ${info.serving ? describeModel(info.model) : 'NOT SERVING'}`, `  source     ${info.source}`];
      if (info.serving) {
        lines.push(
          `  features   ${info.features.join(', ')} (${info.inputElementType})`,
          `  classes    ${info.classes.map((entry) => `${entry.id}=${entry.label}`).join(', ')}`,
        );
        if (info.threshold !== undefined) lines.push(`  threshold  ${info.threshold}`);
        lines.push(`  sha256     ${info.sha256}`, `  trained    ${info.createdAt?.toISOString() ?? '?'}`, `  loaded     ${info.loadedAt?.toISOString() ?? '?'}`);
      }
      if (info.lastCheckedAt) lines.push(`  checked    ${info.lastCheckedAt.toISOString()}`);
      if (info.lastError) lines.push(`  last error ${info.lastError} (${info.lastErrorAt?.toISOString() ?? '?'})`);
      this.io.stdout.write(`${lines.join('\n')}\n`);
    }
  }

  private printHealth(service: string, health: HealthStatus, json: boolean): void {
    this.io.stdout.write(json ? `${JSON.stringify({ service, status: health })}\n` : `${service || 'server'}: ${health}\n`);
  }

  private usage(message: string): number {
    this.io.stderr.write(`error: ${message}\nrun fraud-cli --help for usage\n`);
    return 2;
  }

  private callFailed(error: FraudCallError, address: string, values: Values): number {
    const handshake = tlsFailure(error);
    if (handshake !== undefined) {
      this.io.stderr.write(`error: no TLS connection to the service at ${address}: ${handshake}\n`);
      return 1;
    }
    if (error.code === status.UNAUTHENTICATED || error.code === status.PERMISSION_DENIED) {
      const hint = error.code === status.UNAUTHENTICATED ? 'give a bearer token with --token-file PATH or FRAUD_TOKEN, or a client certificate with --tls-cert-file and --tls-key-file' : 'the service does not let these credentials make this call';
      this.io.stderr.write(`error: ${error.message}${error.reason === undefined ? '' : ` (${error.reason})`}; ${hint}\n`);
      return 1;
    }
    const unreachable = connectionFailure(error);
    if (unreachable !== undefined) {
      // A connection made and then dropped ("no connection", no socket error): what a TLS listener does to a plaintext client.
      const plaintext = unreachable === 'no connection' && !values.tls && values['tls-ca-file'] === undefined ? '; if it speaks TLS, add --tls or --tls-ca-file' : '';
      this.io.stderr.write(`error: cannot reach the service at ${address} (${unreachable}); give its address with --address HOST:PORT or FRAUD_ADDRESS${plaintext}\n`);
      return 1;
    }
    this.io.stderr.write(`error: ${error.message}\n`);
    for (const violation of error.fieldViolations) this.io.stderr.write(`  ${violation.field}: ${violation.description}\n`);
    return 1;
  }
}

/** Data rows of a file (lines after the header), for the progress bar; fast enough for millions. */
async function countRows(path: string, format: TransactionFileFormat): Promise<number> {
  let lines = 0;
  let last = 10;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    for (let index = chunk.indexOf(10); index !== -1; index = chunk.indexOf(10, index + 1)) lines++;
    last = chunk[chunk.length - 1] ?? 10;
  }
  if (last !== 10) lines++;
  return Math.max(0, format === 'csv' ? lines - 1 : lines);
}

/** The features an explained answer carries, one per line; nothing when not explained. */
function describeFeatures(features: Readonly<Record<string, number>>): string {
  const names = Object.keys(features);
  if (names.length === 0) return '';
  const width = Math.max(...names.map((name) => name.length));
  return `features:\n${names.map((name) => `  ${name.padEnd(width)}  ${String(features[name])}`).join('\n')}\n`;
}

function describeModel(model: ModelRef | undefined): string {
  return model === undefined ? '?' : `${model.name} ${model.version} (${model.revision})`;
}

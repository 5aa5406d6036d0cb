import type { FraudClient } from '../../client/fraudClient.js';
import type { ModelRef } from '../../src/gen/fraud/v1/fraud_service.js';
import type { ExpectedAnswers } from './expectedAnswers.js';

/** Failures and wrong answers kept word for word; the rest are only counted (a dead service fails fast). */
const KEPT = 20;
/** Probabilities cross the wire as doubles of the model's float32 values: equal, give or take rounding. */
const TOLERANCE = 1e-6;

export interface LoadReport {
  readonly calls: number;
  /** Failed calls (the first few, then a count). */
  readonly failures: readonly string[];
  readonly failureCount: number;
  /** Answers whose probabilities are not the ones their own transaction gets alone (the first few, then a count). */
  readonly wrong: readonly string[];
  readonly wrongCount: number;
  /** When each model version first answered (ms since the loop started), keyed `<name> <version>@<revision>`. */
  readonly firstSeen: ReadonlyMap<string, number>;
}

/**
 * Call in a describe: returns a function that tracks a LoadLoop, and stops
 * every tracked loop after each test, so a failed test leaves no calls running.
 */
export function stoppedAfterEach(): (load: LoadLoop) => LoadLoop {
  const running: LoadLoop[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((load) => load.stop()));
  });
  return (load) => {
    running.push(load);
    return load;
  };
}

/** "N calls, F failed, W wrong": the figures every load test prints. */
export function loadFigures(report: LoadReport): string {
  return `${report.calls} calls, ${report.failureCount} failed, ${report.wrongCount} wrong`;
}

/**
 * Calls Predict and PredictScenario in turn, as fast as `concurrency` loops
 * allow, until stopped. Each call sends its own transaction from the pool of
 * `expected`, and its answer is checked against the probabilities that
 * transaction gets from the answering model version alone; every failure and
 * every wrong answer is recorded, and when each version first answered.
 */
export class LoadLoop {
  private calls = 0;
  private readonly failures: string[] = [];
  private failureCount = 0;
  private readonly wrong: string[] = [];
  private wrongCount = 0;
  private readonly firstSeen = new Map<string, number>();
  private readonly latest = new Map<string, string>();
  private running = true;
  private readonly started = Date.now();
  private readonly loops: Promise<void>[];
  private report: Promise<LoadReport> | undefined;

  constructor(
    private readonly client: FraudClient,
    private readonly expected: ExpectedAnswers,
    concurrency = 8,
  ) {
    this.loops = Array.from({ length: concurrency }, (_, loop) => this.loop(loop));
  }

  /** `<version>@<revision>` of the latest answer from model `name` (fraud-binary by default), or '' before any. */
  latestOf(name = 'fraud-binary'): string {
    return this.latest.get(name) ?? '';
  }

  /** ms since the loop started when `name` first answered with a version@revision `matching`, if it did. */
  firstSeenAt(matching: (versionAtRevision: string) => boolean, name = 'fraud-binary'): number | undefined {
    for (const [key, at] of this.firstSeen) {
      const [model, version] = key.split(' ') as [string, string];
      if (model === name && matching(version)) return at;
    }
    return undefined;
  }

  get elapsed(): number {
    return Date.now() - this.started;
  }

  get callCount(): number {
    return this.calls;
  }

  /** Stops the loops (safe to call again, e.g. from an afterEach) and reports. */
  stop(): Promise<LoadReport> {
    this.running = false;
    this.report ??= Promise.all(this.loops).then(() => ({
      calls: this.calls,
      failures: this.failures,
      failureCount: this.failureCount,
      wrong: this.wrong,
      wrongCount: this.wrongCount,
      firstSeen: this.firstSeen,
    }));
    return this.report;
  }

  private async loop(loop: number): Promise<void> {
    const { transactions } = this.expected;
    // Loops start at different places in the pool, so calls in flight together differ.
    for (let turn = 0; this.running; turn++) {
      const index = (loop * 7 + turn * 3) % transactions.length;
      const transaction = transactions[index];
      if (transaction === undefined) throw new Error('the transaction pool is empty');
      const scenario = (loop + turn) % 2 === 1;
      try {
        const answer = scenario ? await this.client.predictScenario(transaction) : await this.client.predict(transaction);
        this.calls++;
        this.record(answer.model, index, answer.probabilities);
      } catch (error) {
        this.calls++;
        this.failureCount++;
        if (this.failures.length < KEPT) this.failures.push(error instanceof Error ? error.message : String(error));
      }
    }
  }

  private record(model: ModelRef | undefined, index: number, got: readonly number[]): void {
    const name = model?.name ?? '?';
    const versionAtRevision = `${model?.version ?? '?'}@${model?.revision ?? '?'}`;
    this.latest.set(name, versionAtRevision);
    const key = `${name} ${versionAtRevision}`;
    if (!this.firstSeen.has(key)) this.firstSeen.set(key, Date.now() - this.started);
    const expected = this.expected.probabilities(name, model?.version ?? '?', index);
    const right = expected !== undefined && expected.length === got.length && expected.every((value, column) => Math.abs(value - (got[column] as number)) <= TOLERANCE);
    if (right) return;
    this.wrongCount++;
    if (this.wrong.length < KEPT) {
      this.wrong.push(`transaction ${index} answered by ${key}: [${got.join(', ')}], expected ${expected === undefined ? 'no answer from this version' : `[${expected.join(', ')}]`}`);
    }
  }
}

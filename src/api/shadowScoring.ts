import { performance } from 'node:perf_hooks';
import type { ScoredCall } from '../decisionLog/scoredCall.js';
import type { TransactionHistory } from '../features/entityHistory.js';
import type { Transaction } from '../gen/fraud/v1/fraud_service.js';
import type { ModelRegistry, TaskStatus } from '../models/modelRegistry.js';
import type { ModelTask } from '../models/modelTask.js';
import { sameClasses } from '../models/shadowLoader.js';
import type { InputBuffer, ServingModel } from '../models/servingModel.js';
import type { Logger } from '../observability/logger.js';
import type { ShadowMetrics, ShedReason } from '../observability/shadowMetrics.js';
import {
  ATTR_MODEL_NAME,
  ATTR_MODEL_REVISION,
  ATTR_MODEL_TASK,
  ATTR_MODEL_VERSION,
  ATTR_ROWS,
  preciseTime,
  SPAN_SHADOW_RUN,
  traced,
  type CallTrace,
} from '../observability/tracing.js';
import { recordCall, runOf, type DecisionRecorder } from './decisionCapture.js';
import { PredictionMetrics } from './predictionMetrics.js';
import type { Scored } from './scoring.js';

export interface ShadowScoringOptions {
  /** The shadow model of each task that has one (FRAUD_*_SHADOW_MODEL_URI); tasks without a source are absent. */
  readonly registry: ModelRegistry;
  readonly metrics: ShadowMetrics;
  /** Rows admitted for shadow runs and not yet scored by them (FRAUD_SHADOW_MAX_ROWS_IN_FLIGHT). */
  readonly maxRowsInFlight: number;
  /** True while the service's own load is high (admission control, the batch lane) besides the call's own `rows`: shadows are shed first. */
  readonly saturated: (rows: number) => boolean;
  readonly logger: Logger;
}

/**
 * Challenger models scored in the shadow of the serving ones: on the same
 * transactions, with features written in the same history pass as the
 * serving model's (the history is read once), run only once the answer is on
 * its way, and never able to change or fail it. Shed first: a call's rows go
 * unscored by the shadow when FRAUD_SHADOW_MAX_ROWS_IN_FLIGHT rows already
 * wait for shadow runs, or when the service itself is loaded; each shed row is
 * counted (fraud_shadow_rows_shed_total) and the call is recorded with its
 * serving run alone.
 */
export class ShadowScoring {
  private inFlight = 0;
  private readonly predictions: PredictionMetrics;
  private readonly shed: Readonly<Record<ModelTask, Readonly<Record<ShedReason, { inc(count: number): void }>>>>;
  private readonly failureLogged = new Set<ModelTask>();
  /** `<task> <reason>` of the shedding under way, each logged once until a call of the task is shadowed again. */
  private readonly shedding = new Set<string>();
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly options: ShadowScoringOptions) {
    const { metrics, registry } = options;
    this.predictions = new PredictionMetrics(metrics, registry);
    const reasons = (task: ModelTask): Record<ShedReason, { inc(count: number): void }> => ({
      max_rows: metrics.rowsShed.labels(task, 'max_rows'),
      saturated: metrics.rowsShed.labels(task, 'saturated'),
      late: metrics.rowsShed.labels(task, 'late'),
      classes: metrics.rowsShed.labels(task, 'classes'),
      failed: metrics.rowsShed.labels(task, 'failed'),
    });
    this.shed = { binary: reasons('binary'), multiclass: reasons('multiclass') };
    metrics.rowsInFlightSource = () => this.inFlight;
  }

  /** Each configured shadow's state, for GetModelInfo.shadows. */
  status(): TaskStatus[] {
    return this.options.registry.status();
  }

  /** Shadow rows admitted and not yet scored. */
  get rowsInFlight(): number {
    return this.inFlight;
  }

  /**
   * A shadow run for a call of `rows` transactions scored by `serving`, with
   * the shadow model held for it, or undefined (nothing to write, nothing to
   * run) when the task has no shadow loaded or its rows are shed. The caller
   * either hands it the answered call (`afterAnswer`) or `abandon`s it.
   */
  begin(serving: ServingModel, rows: number, keepFeatures: boolean): ShadowRun | undefined {
    const { registry, maxRowsInFlight, saturated } = this.options;
    const { task } = serving;
    const model = registry.acquire(task);
    if (model === undefined) return undefined;
    let reason: ShedReason | undefined;
    if (!sameClasses(serving, model)) reason = 'classes';
    else if (this.inFlight + rows > maxRowsInFlight) reason = 'max_rows';
    else if (saturated(rows)) reason = 'saturated';
    if (reason !== undefined) {
      model.release();
      this.shed[task][reason].inc(rows);
      this.noteShedding(task, reason);
      return undefined;
    }
    if (this.shedding.size > 0) this.resumed(task);
    this.inFlight += rows;
    return new ShadowRun(this, model, rows, keepFeatures);
  }

  /** Gives back a run's rows and model (once it has run, failed, or been abandoned). */
  finished(run: ShadowRun): void {
    this.inFlight -= run.rows;
    run.model.release();
    if (this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /**
   * Resolves once no shadow run is pending (at shutdown, after the calls have
   * drained: their records reach the decision log before it closes), or after
   * `timeoutMs`.
   */
  idle(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, timeoutMs));
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** One line when a task's shadow starts being shed for a reason (the counter has every row). */
  private noteShedding(task: ModelTask, reason: ShedReason): void {
    const key = `${task} ${reason}`;
    if (this.shedding.has(key)) return;
    this.shedding.add(key);
    this.options.logger.warn({ task, reason, maxRowsInFlight: this.options.maxRowsInFlight }, 'shadow rows shed; calls are recorded with the serving run only (fraud_shadow_rows_shed_total)');
  }

  private resumed(task: ModelTask): void {
    let was = false;
    for (const key of this.shedding) {
      if (!key.startsWith(`${task} `)) continue;
      this.shedding.delete(key);
      was = true;
    }
    if (was) this.options.logger.info({ task }, 'shadow runs resumed');
  }

  /** Counts a scored shadow run (fraud_shadow_predictions_total, fraud_shadow_prediction_score, inference time). */
  counted(scored: Scored): void {
    this.predictions.record(scored);
  }

  /** Counts rows shed after admission; a failed run is logged once per task until one succeeds again. */
  dropped(task: ModelTask, reason: ShedReason, rows: number, error?: unknown): void {
    this.shed[task][reason].inc(rows);
    if (error === undefined || this.failureLogged.has(task)) return;
    this.failureLogged.add(task);
    this.options.logger.warn(
      { task, error: error instanceof Error ? error.message : 'not an Error' },
      'shadow model run failed; calls are recorded with the serving run only (fraud_shadow_rows_shed_total{reason="failed"})',
    );
  }

  succeeded(task: ModelTask): void {
    if (this.failureLogged.delete(task)) this.options.logger.info({ task }, 'shadow model runs succeed again');
  }
}

/**
 * One call's shadow run: its input rows (written during the serving model's
 * history pass), then, after the answer, one model run and the recorders.
 */
export class ShadowRun {
  readonly input: InputBuffer;
  readonly featureRows: Float64Array | undefined;
  private late = false;
  private done = false;

  constructor(
    private readonly owner: ShadowScoring,
    readonly model: ServingModel,
    readonly rows: number,
    keepFeatures: boolean,
  ) {
    this.input = model.inputBuffer(rows);
    this.featureRows = keepFeatures ? new Float64Array(rows * model.featureCount) : undefined;
  }

  /** Writes the shadow's feature row `index` from the same history the serving model's row was written from. */
  write(transaction: Transaction, history: TransactionHistory | undefined, index: number): void {
    const values = this.model.features.write(transaction, history, this.input, index);
    this.featureRows?.set(values, index * this.model.featureCount);
  }

  /** A row was written without its history (too late to record): a shadow that reads history would score it wrongly. */
  writtenWithoutHistory(): void {
    if (this.model.features.needsHistory) this.late = true;
  }

  /** The call failed before its answer: nothing to run or record. */
  abandon(): void {
    if (this.done) return;
    this.done = true;
    this.owner.finished(this);
  }

  /**
   * The answer is ready and about to be handed back: on a later turn of the
   * event loop (after the answer is written), run the shadow model, count its
   * run, and hand `call` (the serving run) to `recorder` with the shadow's run
   * appended, or with the serving run alone when the shadow fails or the rows
   * were late. Never throws.
   */
  afterAnswer(transactions: readonly Transaction[], call: ScoredCall | undefined, recorder: DecisionRecorder | undefined, trace: CallTrace | undefined): void {
    setImmediate(() => {
      void this.run(transactions, call, recorder, trace);
    });
  }

  private async run(transactions: readonly Transaction[], call: ScoredCall | undefined, recorder: DecisionRecorder | undefined, trace: CallTrace | undefined): Promise<void> {
    if (this.done) return;
    const { model, rows } = this;
    let runs = call?.runs;
    try {
      if (this.late) {
        this.owner.dropped(model.task, 'late', rows);
        return;
      }
      const started = performance.now();
      // On the clock of the call span's answer-sent event, finer than the SDK's Date.now() start times.
      const span = trace?.start(
        SPAN_SHADOW_RUN,
        {
          [ATTR_ROWS]: rows,
          [ATTR_MODEL_TASK]: model.task,
          [ATTR_MODEL_NAME]: model.identity.name,
          [ATTR_MODEL_VERSION]: model.identity.version,
          [ATTR_MODEL_REVISION]: model.identity.revision,
        },
        preciseTime(),
      );
      const probabilities = await traced(span, model.probabilities(this.input, rows));
      const classIds = new Int32Array(rows);
      for (let index = 0; index < rows; index++) classIds[index] = model.classOf(probabilities, index);
      const scored: Scored = {
        model,
        probabilities,
        classIds,
        inferenceSeconds: (performance.now() - started) / 1000,
        explanations: undefined,
        featureRows: this.featureRows,
      };
      this.owner.counted(scored);
      this.owner.succeeded(model.task);
      if (call !== undefined) runs = [...call.runs, runOf('shadow', scored, transactions)];
    } catch (error) {
      this.owner.dropped(model.task, 'failed', rows, error);
    } finally {
      this.done = true;
      this.owner.finished(this);
      // The serving record is never lost for the shadow's sake.
      if (call !== undefined && recorder !== undefined) recordCall(recorder, { ...call, runs: runs ?? call.runs });
    }
  }
}

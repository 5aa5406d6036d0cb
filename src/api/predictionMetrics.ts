import type { ModelRegistry } from '../models/modelRegistry.js';
import type { ServingModel } from '../models/servingModel.js';
import type { Metrics } from '../observability/metrics.js';
import type { ScoreSeries } from '../observability/scoreHistogram.js';
import { classCounts, fraudProbability, type Scored } from './scoring.js';

type PredictionCounter = ReturnType<Metrics['predictions']['labels']>;

/** The series scored calls count into: the serving models' (Metrics) or the shadows' (Metrics.shadow), same labels. */
export type PredictionSeries = Pick<Metrics, 'predictions' | 'predictionScores' | 'inferenceDuration'>;

/** One serving model's series, looked up once per model, not per call. */
interface ModelSeries {
  readonly predictions: readonly PredictionCounter[];
  readonly scores: ScoreSeries;
  readonly inference: ReturnType<Metrics['inferenceDuration']['labels']>;
}

/**
 * What each scored call adds to the metrics: predictions by class, the fraud
 * probability of every transaction (fraud_prediction_score), the inference
 * time. Series are labelled with the model version, so a canary or a drift
 * shows; their number stays bounded because a replaced version's series are
 * removed once its last call has finished (its session is released then), so
 * that call's counts are in them before they go. What was counted after the
 * last scrape before that is not seen by Prometheus: at most one scrape
 * interval of the old version's traffic.
 */
export class PredictionMetrics {
  private readonly series = new WeakMap<ServingModel, ModelSeries>();

  constructor(
    private readonly metrics: PredictionSeries,
    private readonly registry: ModelRegistry,
  ) {
    registry.onChange((_task, model, previous) => {
      if (previous === undefined || previous === model) return;
      void previous.released.then(() => {
        this.forget(previous);
      });
    });
  }

  /** Counts one scored call: one counter update per class, one typed-array update per transaction. */
  record(scored: Scored): void {
    const { model } = scored;
    const series = this.seriesOf(model);
    classCounts(scored).forEach((count, classId) => {
      if (count > 0) series.predictions[classId]?.inc(count);
    });
    const rows = scored.classIds.length;
    for (let row = 0; row < rows; row++) series.scores.observe(fraudProbability(scored, row));
    series.inference.observe(scored.inferenceSeconds);
  }

  private seriesOf(model: ServingModel): ModelSeries {
    let series = this.series.get(model);
    if (series === undefined) {
      const { name, version } = model.identity;
      series = {
        predictions: model.labels.map((label) => this.metrics.predictions.labels(model.task, name, version, label)),
        scores: this.metrics.predictionScores.labels(model.task, version),
        inference: this.metrics.inferenceDuration.labels(model.task),
      };
      this.series.set(model, series);
    }
    return series;
  }

  /**
   * Removes a replaced model's series, but those the model serving now shares
   * (the same version republished: scores are by task and version, predictions
   * by name and version too).
   */
  private forget(model: ServingModel): void {
    const { name, version } = model.identity;
    const current = this.registry.current(model.task)?.identity;
    if (current?.version === version && current.name === name) return;
    if (current?.version !== version) this.metrics.predictionScores.remove(model.task, version);
    for (const label of model.labels) this.metrics.predictions.remove(model.task, name, version, label);
  }
}

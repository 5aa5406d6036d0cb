/**
 * The typed TypeScript client of fraud.v1.FraudService. Import it from
 * `fraud-scoring/client`; it depends only on the code generated from proto/.
 */
export {
  FraudCallError,
  FraudClient,
  fieldViolationsOf,
  type CallOptions,
  type FieldViolation,
  type FraudClientOptions,
  type HealthStatus,
  type OutcomeInput,
  type RetryPolicy,
  type ScoreAllOptions,
  type ScoreOptions,
  type TransactionInput,
} from './fraudClient.js';
export type { PredictStreamOptions, StreamedPrediction } from './predictStream.js';
export {
  binnedAuc,
  binnedAveragePrecision,
  compareQuality,
  countsOf,
  summarize,
  wilsonInterval,
  type Estimate,
  type QualityComparison,
  type QualityCounts,
  type QualitySummary,
  type StatisticsOptions,
} from './qualityStatistics.js';
export { DEFAULT_GATE, evaluateGate, type GateOptions, type GateResult } from './qualityGate.js';
export { fraudServiceConfig, serviceConfigOptions, type FraudServiceConfig } from './serviceConfig.js';
export type { ClientTlsOptions } from './channelSecurity.js';
export type {
  FraudPrediction,
  GetModelInfoResponse,
  GetModelQualityRequest,
  GetModelQualityResponse,
  ModelQuality,
  ModelInfo,
  ModelRef,
  OutcomeResult,
  PredictBatchResponse,
  PredictResponse,
  PredictScenarioBatchResponse,
  PredictScenarioResponse,
  ScenarioPrediction,
} from '../src/gen/fraud/v1/fraud_service.js';
export { ModelTask, OutcomeStatus } from '../src/gen/fraud/v1/fraud_service.js';

import type { ModelTask } from '../models/modelTask.js';
import { optionalModelUri } from './modelUri.js';
import { fraction, integer, type Env } from './envValues.js';

/** The shadow models' variables (see shadowConfig). */
export const SHADOW_VARIABLES = ['FRAUD_BINARY_SHADOW_MODEL_URI', 'FRAUD_SCENARIO_SHADOW_MODEL_URI', 'FRAUD_SHADOW_MAX_ROWS_IN_FLIGHT', 'FRAUD_SHADOW_SHED_LOOP_BUSY'] as const;

export interface ShadowConfig {
  /** Each task's challenger manifest (same forms as the serving models' URIs); a task left out has no shadow. */
  readonly modelUris: Readonly<Partial<Record<ModelTask, URL>>>;
  /** Transactions admitted for shadow runs and not yet scored by them; past it, new calls' rows are shed. */
  readonly maxRowsInFlight: number;
  /** Event loop utilization (0 to 1) at or above which shadow rows are shed; 1 never sheds for it. */
  readonly shedLoopBusy: number;
}

/**
 * A shadow run keeps its call's transactions, its own input rows (a few
 * dozen bytes each) and the serving answer's probabilities until it has run:
 * about 1 KB a row from unary calls, so 2,000 rows hold about 2 MB; a
 * batch larger than the bound is shed whole.
 */
export const DEFAULT_SHADOW_MAX_ROWS_IN_FLIGHT = 2_000;

/**
 * A loop busy 80 % of the time has little idle time left: a shadow run then
 * delays answers (measured: p99 1.2x at c=16 and 64 on 2 cores without it).
 */
export const DEFAULT_SHADOW_SHED_LOOP_BUSY = 0.8;

export function shadowConfig(env: Env): ShadowConfig {
  const binary = optionalModelUri(env, 'FRAUD_BINARY_SHADOW_MODEL_URI');
  const multiclass = optionalModelUri(env, 'FRAUD_SCENARIO_SHADOW_MODEL_URI');
  return {
    modelUris: { ...(binary && { binary }), ...(multiclass && { multiclass }) },
    maxRowsInFlight: integer(env, 'FRAUD_SHADOW_MAX_ROWS_IN_FLIGHT', DEFAULT_SHADOW_MAX_ROWS_IN_FLIGHT, 1, 10_000_000),
    shedLoopBusy: fraction(env, 'FRAUD_SHADOW_SHED_LOOP_BUSY', DEFAULT_SHADOW_SHED_LOOP_BUSY),
  };
}

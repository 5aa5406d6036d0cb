import { performance } from 'node:perf_hooks';
import type { Transaction } from '../gen/fraud/v1/fraud_service.js';
import type { DecisionRole, ModelRun, ScoredCall } from '../decisionLog/scoredCall.js';
import { methodLabel } from './callMetrics.js';
import { fraudProbability, predictionOf, type Scored } from './scoring.js';

/** What the scoring path hands answered calls to (the decision log, the scores kept for live quality). */
export interface DecisionRecorder {
  /** True when it reads each run's feature rows: the scoring path keeps them only then. */
  readonly needsFeatures: boolean;
  record(call: ScoredCall): void;
}

/** One recorder for several (undefined when there are none): each gets every call, in order. */
export function recorderOf(recorders: readonly (DecisionRecorder | undefined)[]): DecisionRecorder | undefined {
  const present = recorders.filter((recorder): recorder is DecisionRecorder => recorder !== undefined);
  if (present.length <= 1) return present[0];
  return {
    needsFeatures: present.some((recorder) => recorder.needsFeatures),
    record(call: ScoredCall): void {
      for (const recorder of present) recorder.record(call);
    },
  };
}

/** The run of `scored` as the recorders take it: references only, its answers built when a record is. */
export function runOf(role: DecisionRole, scored: Scored, transactions: readonly Transaction[]): ModelRun {
  const { model, featureRows } = scored;
  return {
    role,
    task: model.task,
    identity: model.identity,
    threshold: model.threshold,
    featureNames: model.features.names,
    featureRows,
    answer: (index) => predictionOf(scored, transactions, index),
    fraudProbability: (index) => fraudProbability(scored, index),
    classId: (index) => scored.classIds[index] as number,
  };
}

/** An answered call with its serving run; `path` is the call's gRPC path, `startedAt` (performance.now()) when scoring began. */
export function scoredCallOf(path: string, scored: Scored, transactions: readonly Transaction[], startedAt: number): ScoredCall {
  return {
    method: methodLabel(path),
    transactions,
    runs: [runOf('serving', scored, transactions)],
    latencySeconds: (performance.now() - startedAt) / 1000,
    decidedAtMs: Date.now(),
  };
}

/** Hands `call` to the recorder. Never throws: recording must not fail an answer (the recorders count what they drop). */
export function recordCall(recorder: DecisionRecorder, call: ScoredCall): void {
  try {
    recorder.record(call);
  } catch {
    // Nothing to do on the scoring path; the decision log counts what it drops.
  }
}

/**
 * Hands an answered call to the decision log: references only (the records
 * are built later, off the scoring path, with the same predictionOf the
 * answer was built with). `path` is the call's gRPC path; `startedAt`
 * (performance.now()) when scoring began. Never throws: the decision log
 * must not fail an answer.
 */
export function recordDecisions(recorder: DecisionRecorder, path: string, scored: Scored, transactions: readonly Transaction[], startedAt: number): void {
  recordCall(recorder, scoredCallOf(path, scored, transactions, startedAt));
}

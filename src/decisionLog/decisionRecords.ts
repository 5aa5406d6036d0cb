import { DecisionRecord, DecisionRole as ProtoRole, type ModelDecision } from '../gen/fraud/v1/decision_record.js';
import { ModelTask as ProtoTask } from '../gen/fraud/v1/fraud_service.js';
import { eventTimeSeconds } from '../features/eventClock.js';
import type { ModelTask } from '../models/modelTask.js';
import type { DecisionRole, ModelRun, ScoredCall } from './scoredCall.js';

/** A record ready for a sink: its key (the transaction id in decimal), its proto3 JSON line (no newline), and when it was decided. */
export interface EncodedRecord {
  readonly key: string;
  readonly json: string;
  readonly decidedAtMs: number;
}

const TASKS: Readonly<Record<ModelTask, ProtoTask>> = { binary: ProtoTask.MODEL_TASK_BINARY, multiclass: ProtoTask.MODEL_TASK_MULTICLASS };
const ROLES: Readonly<Record<DecisionRole, ProtoRole>> = { serving: ProtoRole.DECISION_ROLE_SERVING, shadow: ProtoRole.DECISION_ROLE_SHADOW };

/** The decision record of the transaction at `index` of `call`. */
export function decisionRecord(call: ScoredCall, index: number, instance: string, epochSeconds: number): DecisionRecord {
  const transaction = call.transactions[index];
  if (transaction === undefined) throw new RangeError(`no transaction ${index} in a call of ${call.transactions.length}`);
  return {
    transactionId: transaction.transactionId ?? 0n,
    customerId: transaction.customerId ?? 0n,
    terminalId: transaction.terminalId ?? 0n,
    txAmount: transaction.txAmount ?? 0,
    eventTime: new Date(eventTimeSeconds(transaction, epochSeconds) * 1000),
    models: call.runs.map((run) => modelDecision(run, index)),
    serviceInstance: instance,
    method: call.method,
    latencySeconds: call.latencySeconds,
    decidedAt: new Date(call.decidedAtMs),
  };
}

function modelDecision(run: ModelRun, index: number): ModelDecision {
  const width = run.featureNames.length;
  const features: Record<string, number> = {};
  const rows = run.featureRows;
  if (rows === undefined) throw new Error('the decision log needs the features of every run (needsFeatures)');
  for (let column = 0; column < width; column++) {
    features[run.featureNames[column] as string] = rows[index * width + column] as number;
  }
  const answer = run.answer(index);
  return {
    task: TASKS[run.task],
    name: run.identity.name,
    version: run.identity.version,
    revision: run.identity.revision,
    role: ROLES[run.role],
    features,
    probabilities: [...answer.probabilities],
    classId: answer.classId,
    prediction: answer.prediction,
    fraudProbability: answer.fraudProbability,
    threshold: run.threshold,
  };
}

/** The record's proto3 JSON form on one line (docs/decision-log.md). */
export function encodeRecord(record: DecisionRecord): EncodedRecord {
  return {
    key: record.transactionId.toString(),
    json: JSON.stringify(DecisionRecord.toJSON(record)),
    decidedAtMs: record.decidedAt?.getTime() ?? 0,
  };
}

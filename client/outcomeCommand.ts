import type { Writable } from 'node:stream';
import { OutcomeResult, OutcomeStatus } from '../src/gen/fraud/v1/fraud_service.js';
import type { FraudClient, OutcomeInput } from './fraudClient.js';

/** Statuses that leave nothing new recorded and want a person's attention: the command exits 1. */
const NOT_RECORDED: ReadonlySet<OutcomeStatus> = new Set([
  OutcomeStatus.OUTCOME_STATUS_UNSPECIFIED,
  OutcomeStatus.OUTCOME_STATUS_CONFLICT,
  OutcomeStatus.OUTCOME_STATUS_UNKNOWN_TRANSACTION,
  OutcomeStatus.OUTCOME_STATUS_BEFORE_TRANSACTION,
  OutcomeStatus.OUTCOME_STATUS_OUT_OF_ORDER,
  OutcomeStatus.OUTCOME_STATUS_TOO_MANY_CORRECTIONS,
]);

export interface OutcomeReportOptions {
  /** Outcomes per ReportOutcomeBatch call (at most the service's FRAUD_MAX_BATCH_SIZE). */
  readonly batchSize: number;
  readonly json: boolean;
  readonly stdout: Writable;
}

export interface OutcomeReportSummary {
  readonly reported: number;
  /** Results by status name (applied, duplicate, conflict, …). */
  readonly counts: ReadonlyMap<string, number>;
  /** True when some outcome was not recorded (conflict, unknown transaction, known before the transaction, a refused correction). */
  readonly refused: boolean;
}

/** "applied", "unknown_transaction", …: the API's status name without its prefix. */
export function outcomeStatusName(status: OutcomeStatus): string {
  return OutcomeStatus[status].replace('OUTCOME_STATUS_', '').toLowerCase();
}

/**
 * Reports outcomes in batches, in order, and prints one line per result as it
 * comes: `transaction 3: applied`, with the service's reason for any other
 * status; the proto3 JSON result per line with `json`.
 */
export async function reportOutcomes(
  client: Pick<FraudClient, 'reportOutcomes'>,
  outcomes: Iterable<OutcomeInput> | AsyncIterable<OutcomeInput>,
  options: OutcomeReportOptions,
): Promise<OutcomeReportSummary> {
  const counts = new Map<string, number>();
  let reported = 0;
  let refused = false;
  let batch: OutcomeInput[] = [];
  const send = async (): Promise<void> => {
    if (batch.length === 0) return;
    const results = await client.reportOutcomes(batch);
    batch = [];
    for (const result of results) {
      const name = outcomeStatusName(result.status);
      counts.set(name, (counts.get(name) ?? 0) + 1);
      refused ||= NOT_RECORDED.has(result.status);
      options.stdout.write(
        options.json
          ? `${JSON.stringify(OutcomeResult.toJSON(result))}\n`
          : `transaction ${result.transactionId}: ${name}${result.message === '' ? '' : `: ${result.message}`}\n`,
      );
    }
    reported += results.length;
  };
  for await (const outcome of outcomes) {
    batch.push(outcome);
    if (batch.length >= options.batchSize) await send();
  }
  await send();
  return { reported, counts, refused };
}

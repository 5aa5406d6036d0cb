import { Outcome, OutcomeStatus, type OutcomeResult, type TransactionOutcome } from '../gen/fraud/v1/fraud_service.js';
import type { OutcomeKind, OutcomeReport, OutcomeResult as StoreOutcomeResult, OutcomeStatus as StoreOutcomeStatus, StateStore } from '../state/stateStore.js';
import type { QualityUpdate } from '../quality/qualityLedger.js';
import { InvalidArgumentError } from './apiErrors.js';
import { TIMESTAMP_MAX_SECONDS } from './requestDecoding.js';
import { ViolationList } from './validateTransaction.js';

export interface OutcomeReportsOptions {
  readonly store: StateStore;
  /** Unix seconds that known_at_seconds counts from (the feature spec's clock). */
  readonly epochSeconds: number;
  /** How far ahead of this service's clock known_at may be (FRAUD_STATE_MAX_FUTURE_SECONDS). */
  readonly maxFutureSeconds: number;
  readonly now?: () => number;
}

const STATUSES: Readonly<Record<StoreOutcomeStatus, OutcomeStatus>> = {
  applied: OutcomeStatus.OUTCOME_STATUS_APPLIED,
  duplicate: OutcomeStatus.OUTCOME_STATUS_DUPLICATE,
  conflict: OutcomeStatus.OUTCOME_STATUS_CONFLICT,
  unknown_transaction: OutcomeStatus.OUTCOME_STATUS_UNKNOWN_TRANSACTION,
  before_transaction: OutcomeStatus.OUTCOME_STATUS_BEFORE_TRANSACTION,
  corrected: OutcomeStatus.OUTCOME_STATUS_CORRECTED,
  out_of_order: OutcomeStatus.OUTCOME_STATUS_OUT_OF_ORDER,
  too_many_corrections: OutcomeStatus.OUTCOME_STATUS_TOO_MANY_CORRECTIONS,
};

/** A correction the store recorded: what was in force before, and what is from `knownAt` on. */
export interface RecordedCorrection {
  readonly transactionId: bigint;
  readonly from: OutcomeKind;
  readonly to: OutcomeKind;
  /** Unix seconds. */
  readonly knownAt: number;
}

/** Applied and corrected outcomes, with the scores they joined (live quality's input) or without. */
export interface JoinedOutcomes {
  readonly updates: QualityUpdate[];
  /** Statuses of applied or corrected outcomes that joined no score. */
  readonly unscored: StoreOutcomeStatus[];
}

function joinedOutcomes(reports: readonly OutcomeReport[], stored: readonly StoreOutcomeResult[]): JoinedOutcomes {
  const updates: QualityUpdate[] = [];
  const unscored: StoreOutcomeStatus[] = [];
  stored.forEach((result, index) => {
    if (result.status !== 'applied' && result.status !== 'corrected') return;
    const report = reports[index] as OutcomeReport;
    if (result.joined === undefined || result.joined.scores.length === 0) {
      unscored.push(result.status);
      return;
    }
    // A correction without what it replaced cannot move counts: it is counted as unscored rather than added twice.
    if (result.status === 'corrected' && result.replaced === undefined) {
      unscored.push(result.status);
      return;
    }
    updates.push({ outcome: report.outcome, knownAt: report.knownAt, replaced: result.status === 'corrected' ? result.replaced : undefined, joined: result.joined });
  });
  return { updates, unscored };
}

/**
 * The fraud feedback path: confirmed outcomes are checked (field violations
 * fail the whole call, and then nothing is recorded), recorded in order, and
 * answered one result each: what a duplicate, a conflict or an unknown
 * transaction did is an answer, not an error, so no other report is lost.
 */
export class OutcomeReports {
  private readonly now: () => number;
  /**
   * The largest known_at_seconds: 9999-12-31T23:59:59Z, the bound of
   * tx_time_seconds and of a Timestamp (validateTransaction.ts), so every
   * accepted value is a valid instant and a JavaScript Date.
   */
  private readonly maxKnownAtSeconds: bigint;

  constructor(private readonly options: OutcomeReportsOptions) {
    this.now = options.now ?? Date.now;
    this.maxKnownAtSeconds = TIMESTAMP_MAX_SECONDS - BigInt(Math.trunc(options.epochSeconds));
  }

  async report(
    outcomes: readonly TransactionOutcome[],
    batch: boolean,
  ): Promise<{ results: OutcomeResult[]; statuses: StoreOutcomeStatus[]; corrections: RecordedCorrection[]; quality: JoinedOutcomes }> {
    const received = this.now() / 1000;
    const latest = received + this.options.maxFutureSeconds;
    const violations = new ViolationList('outcomes');
    const reports = outcomes.map((outcome, index) => this.reportOf(outcome, received, latest, violations.at(batch ? index : 'outcome')));
    if (violations.items.length > 0) throw new InvalidArgumentError(violations.items);
    const stored = await this.options.store.reportOutcomes(reports);
    return {
      results: stored.map((result, index) => ({
        transactionId: reports[index]?.transactionId ?? 0n,
        status: STATUSES[result.status],
        message: result.message,
      })),
      statuses: stored.map((result) => result.status),
      corrections: stored.flatMap((result, index) => {
        const report = reports[index] as OutcomeReport;
        return result.replaced === undefined ? [] : [{ transactionId: report.transactionId, from: result.replaced.outcome, to: report.outcome, knownAt: report.knownAt }];
      }),
      quality: joinedOutcomes(reports, stored),
    };
  }

  private reportOf(outcome: TransactionOutcome, received: number, latest: number, violations: ViolationList): OutcomeReport {
    const { transactionId, knownAt, knownAtSeconds } = outcome;
    if (transactionId === undefined) violations.add('transaction_id', 'is required');
    else if (transactionId < 0n) violations.add('transaction_id', `must be >= 0, got ${transactionId}`);
    if (outcome.outcome !== Outcome.OUTCOME_FRAUD && outcome.outcome !== Outcome.OUTCOME_LEGITIMATE) {
      violations.add('outcome', `must be OUTCOME_FRAUD or OUTCOME_LEGITIMATE, got ${outcome.outcome === Outcome.OUTCOME_UNSPECIFIED ? 'OUTCOME_UNSPECIFIED' : String(outcome.outcome)}`);
    }
    let known = received;
    let field = 'known_at';
    if (knownAt !== undefined) {
      known = knownAt.getTime() / 1000;
      if (!Number.isFinite(known)) violations.add('known_at', 'is not a valid timestamp');
    } else if (knownAtSeconds !== undefined) {
      field = 'known_at_seconds';
      if (knownAtSeconds < 0n) violations.add('known_at_seconds', `must be >= 0, got ${knownAtSeconds}`);
      else if (knownAtSeconds > this.maxKnownAtSeconds) {
        violations.add('known_at_seconds', `must be at most ${this.maxKnownAtSeconds} (9999-12-31T23:59:59Z), got ${knownAtSeconds}`);
      }
      known = knownAtSeconds > this.maxKnownAtSeconds ? Number.NaN : this.options.epochSeconds + Number(knownAtSeconds);
    }
    if (Number.isFinite(known) && known > latest) {
      violations.add(field, `is ${new Date(known * 1000).toISOString()}, more than ${this.options.maxFutureSeconds} s ahead of the service's clock (FRAUD_STATE_MAX_FUTURE_SECONDS)`);
    }
    return {
      transactionId: transactionId ?? 0n,
      outcome: outcome.outcome === Outcome.OUTCOME_FRAUD ? 'fraud' : 'legitimate',
      knownAt: known,
      supersedes: outcome.supersedes,
    };
  }
}

/**
 * What the history features are computed from: the recorded history of one
 * customer and one terminal, as a state store hands it over right after
 * recording a transaction (models/feature-spec.json, history.rules). The
 * features layer only reads these; the state layer keeps and updates them.
 */

/** Seconds in a day; a transaction's day is floor(unix_seconds / 86400), its UTC calendar day. */
export const SECONDS_PER_DAY = 86_400;

export function dayOf(unixSeconds: number): number {
  return Math.floor(unixSeconds / SECONDS_PER_DAY);
}

/** Numbers per folded customer day in CustomerHistory.days: day, count, sum of amounts, largest amount. */
export const CUSTOMER_DAY_STRIDE = 4;

/** Numbers per terminal day in TerminalHistory.days: day, count. */
export const TERMINAL_DAY_STRIDE = 2;

/**
 * Numbers per confirmed fraud in TerminalHistory.frauds: day of the
 * transaction, known_at (it counts from then on) and until (the known_at of
 * the correction that ended it; Infinity while it is in force).
 */
export const FRAUD_STRIDE = 3;

/**
 * Numbers per recent transaction in CustomerHistory.recent (one recorded
 * recently enough that a late one may still arrive before it in event time):
 * its id's low and high 32 bits (idBits.ts), its event time (Unix seconds)
 * and its amount.
 */
export const RECENT_STRIDE = 4;

export interface CustomerHistory {
  /**
   * Folded days, `dayCount` of them, CUSTOMER_DAY_STRIDE numbers each, in
   * any order. Every transaction folded into a day is older than any
   * transaction the store still accepts, so it counts for every window that
   * covers its day.
   */
  readonly days: ArrayLike<number>;
  readonly dayCount: number;
  /** Recent transactions kept exactly (the subject transaction among them), `recentCount` of them, RECENT_STRIDE numbers each, in any order. */
  readonly recent: ArrayLike<number>;
  readonly recentCount: number;
}

export interface TerminalHistory {
  /** Days with transactions, `dayCount` of them, TERMINAL_DAY_STRIDE numbers each, in any order. */
  readonly days: ArrayLike<number>;
  readonly dayCount: number;
  /**
   * Confirmed frauds among the terminal's transactions, `fraudCount` of them,
   * FRAUD_STRIDE numbers each: a fraud counts for event times in [known_at, until).
   */
  readonly frauds: ArrayLike<number>;
  readonly fraudCount: number;
}

/** The history a transaction is scored with. */
export interface TransactionHistory {
  readonly customer: CustomerHistory;
  readonly terminal: TerminalHistory;
  /** True when the transaction had already been recorded (a retry): it was not recorded again. */
  readonly duplicate: boolean;
}

/** The transaction being scored, as the history features see it. */
export interface HistorySubject {
  readonly id: bigint;
  /** Event time, Unix seconds. */
  readonly time: number;
  readonly amount: number;
}

export const EMPTY_HISTORY: TransactionHistory = Object.freeze({
  customer: Object.freeze({ days: new Float64Array(0), dayCount: 0, recent: new Float64Array(0), recentCount: 0 }),
  terminal: Object.freeze({ days: new Float64Array(0), dayCount: 0, frauds: new Float64Array(0), fraudCount: 0 }),
  duplicate: false,
});

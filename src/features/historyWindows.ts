import {
  CUSTOMER_DAY_STRIDE,
  FRAUD_STRIDE,
  RECENT_STRIDE,
  TERMINAL_DAY_STRIDE,
  dayOf,
  type HistorySubject,
  type TransactionHistory,
} from './entityHistory.js';
import type { WindowFeature } from './featureSpec.js';
import { highBits, lowBits } from './idBits.js';

/** A feature value read from the windows computed for the current row. */
export type WindowColumn = () => number;

/**
 * The window features of one model (models/feature-spec.json, history.rules),
 * computed together for each transaction: every distinct window is summed
 * once, whatever number of features read it. Generic over the spec's
 * window_days, delay_days and aggregate, so new windows need no code.
 * Not reentrant: `compute` fills scratch arrays the columns then read.
 */
export class HistoryWindows {
  /** Distinct customer window lengths, in days. */
  private readonly customerDays: number[] = [];
  /** Distinct terminal windows: delay and length, in days. */
  private readonly terminalWindows: { readonly delay: number; readonly days: number; streak: boolean; latestStreak: boolean }[] = [];

  private readonly previousCount: Float64Array;
  private readonly previousSum: Float64Array;
  private readonly previousMax: Float64Array;
  private readonly terminalCount: Float64Array;
  private readonly terminalFrauds: Float64Array;
  private readonly terminalStreak: Float64Array;
  private readonly terminalLatestStreak: Float64Array;
  /** Per day of age (days before the transaction's day): transactions and confirmed frauds, for streaks. */
  private readonly ageCount: Float64Array;
  private readonly ageFrauds: Float64Array;
  private amount = 0;

  readonly usesCustomer: boolean;
  readonly usesTerminal: boolean;

  constructor(features: readonly WindowFeature[]) {
    for (const feature of features) {
      if (feature.kind === 'customer_window') {
        if (!this.customerDays.includes(feature.window_days)) this.customerDays.push(feature.window_days);
      } else {
        let window = this.terminalWindows.find((entry) => entry.delay === feature.delay_days && entry.days === feature.window_days);
        if (window === undefined) {
          window = { delay: feature.delay_days, days: feature.window_days, streak: false, latestStreak: false };
          this.terminalWindows.push(window);
        }
        if (feature.aggregate === 'fraud_streak') window.streak = true;
        if (feature.aggregate === 'fraud_streak_latest') window.latestStreak = true;
      }
    }
    this.previousCount = new Float64Array(this.customerDays.length);
    this.previousSum = new Float64Array(this.customerDays.length);
    this.previousMax = new Float64Array(this.customerDays.length);
    this.terminalCount = new Float64Array(this.terminalWindows.length);
    this.terminalFrauds = new Float64Array(this.terminalWindows.length);
    this.terminalStreak = new Float64Array(this.terminalWindows.length);
    this.terminalLatestStreak = new Float64Array(this.terminalWindows.length);
    const oldest = this.terminalWindows.reduce((most, window) => (window.streak || window.latestStreak ? Math.max(most, window.delay + window.days) : most), 0);
    this.ageCount = new Float64Array(oldest + 1);
    this.ageFrauds = new Float64Array(oldest + 1);
    this.usesCustomer = this.customerDays.length > 0;
    this.usesTerminal = this.terminalWindows.length > 0;
  }

  /** The column of `feature`, reading what the last `compute` found. */
  column(feature: WindowFeature): WindowColumn {
    if (feature.kind === 'customer_window') {
      const index = this.customerDays.indexOf(feature.window_days);
      return this.customerColumn(feature, index);
    }
    const index = this.terminalWindows.findIndex((entry) => entry.delay === feature.delay_days && entry.days === feature.window_days);
    switch (feature.aggregate) {
      case 'count':
        return () => this.terminalCount[index] as number;
      case 'fraud_risk':
        return () => {
          const count = this.terminalCount[index] as number;
          return count === 0 ? 0 : (this.terminalFrauds[index] as number) / count;
        };
      case 'fraud_streak':
        return () => this.terminalStreak[index] as number;
      case 'fraud_streak_latest':
        return () => this.terminalLatestStreak[index] as number;
      default:
        throw new Error(`aggregate ${feature.aggregate} is not defined for terminal windows`);
    }
  }

  private customerColumn(feature: WindowFeature, index: number): WindowColumn {
    switch (feature.aggregate) {
      case 'count':
        return () => (this.previousCount[index] as number) + 1;
      case 'mean_amount':
        return () => ((this.previousSum[index] as number) + this.amount) / ((this.previousCount[index] as number) + 1);
      case 'amount_over_mean':
        return () => {
          const count = this.previousCount[index] as number;
          const mean = count === 0 ? 0 : (this.previousSum[index] as number) / count;
          return mean === 0 ? 1 : this.amount / mean;
        };
      case 'amount_over_max':
        return () => {
          const max = this.previousMax[index] as number;
          return (this.previousCount[index] as number) === 0 || max === 0 ? 1 : this.amount / max;
        };
      default:
        throw new Error(`aggregate ${feature.aggregate} is not defined for customer windows`);
    }
  }

  /** Sums every window for `subject`, from the history a store handed over right after recording it. */
  compute(subject: HistorySubject, history: TransactionHistory): void {
    this.amount = subject.amount;
    const day = dayOf(subject.time);
    if (this.usesCustomer) this.computeCustomer(subject, day, history);
    if (this.usesTerminal) this.computeTerminal(subject, day, history);
  }

  private computeCustomer(subject: HistorySubject, day: number, history: TransactionHistory): void {
    const { customerDays, previousCount, previousSum, previousMax } = this;
    previousCount.fill(0);
    previousSum.fill(0);
    previousMax.fill(0);
    const { days, dayCount } = history.customer;
    for (let entry = 0; entry < dayCount; entry++) {
      const base = entry * CUSTOMER_DAY_STRIDE;
      const age = day - (days[base] as number);
      if (age < 0) continue;
      const count = days[base + 1] as number;
      const sum = days[base + 2] as number;
      const max = days[base + 3] as number;
      for (let window = 0; window < customerDays.length; window++) {
        if (age >= (customerDays[window] as number)) continue;
        previousCount[window] = (previousCount[window] as number) + count;
        previousSum[window] = (previousSum[window] as number) + sum;
        if (max > (previousMax[window] as number)) previousMax[window] = max;
      }
    }
    const { recent, recentCount } = history.customer;
    const subjectLow = lowBits(subject.id);
    const subjectHigh = highBits(subject.id);
    for (let entry = 0; entry < recentCount; entry++) {
      const base = entry * RECENT_STRIDE;
      const time = recent[base + 2] as number;
      // The subject itself (or the recorded copy a retry stands for), and what happened after it, do not count.
      if ((recent[base] === subjectLow && recent[base + 1] === subjectHigh) || time > subject.time) continue;
      const amount = recent[base + 3] as number;
      const age = day - dayOf(time);
      for (let window = 0; window < customerDays.length; window++) {
        if (age >= (customerDays[window] as number)) continue;
        previousCount[window] = (previousCount[window] as number) + 1;
        previousSum[window] = (previousSum[window] as number) + amount;
        if (amount > (previousMax[window] as number)) previousMax[window] = amount;
      }
    }
  }

  private computeTerminal(subject: HistorySubject, day: number, history: TransactionHistory): void {
    const { terminalWindows, terminalCount, terminalFrauds, terminalStreak, terminalLatestStreak, ageCount, ageFrauds } = this;
    terminalCount.fill(0);
    terminalFrauds.fill(0);
    ageCount.fill(0);
    ageFrauds.fill(0);
    const { days, dayCount, frauds, fraudCount } = history.terminal;
    for (let entry = 0; entry < dayCount; entry++) {
      const base = entry * TERMINAL_DAY_STRIDE;
      const age = day - (days[base] as number);
      if (age <= 0) continue;
      const count = days[base + 1] as number;
      for (let window = 0; window < terminalWindows.length; window++) {
        const { delay, days: length } = terminalWindows[window] as (typeof terminalWindows)[number];
        if (age > delay && age <= delay + length) terminalCount[window] = (terminalCount[window] as number) + count;
      }
      if (age < ageCount.length) ageCount[age] = count;
    }
    for (let entry = 0; entry < fraudCount; entry++) {
      const base = entry * FRAUD_STRIDE;
      // A fraud counts from the moment it became known until a correction (known then) ended it.
      if ((frauds[base + 1] as number) > subject.time || (frauds[base + 2] as number) <= subject.time) continue;
      const age = day - (frauds[base] as number);
      if (age <= 0) continue;
      for (let window = 0; window < terminalWindows.length; window++) {
        const { delay, days: length } = terminalWindows[window] as (typeof terminalWindows)[number];
        if (age > delay && age <= delay + length) terminalFrauds[window] = (terminalFrauds[window] as number) + 1;
      }
      if (age < ageFrauds.length) ageFrauds[age] = (ageFrauds[age] as number) + 1;
    }
    for (let window = 0; window < terminalWindows.length; window++) {
      const { delay, days, streak, latestStreak } = terminalWindows[window] as (typeof terminalWindows)[number];
      if (!streak && !latestStreak) continue;
      let total = 0;
      for (let age = delay + 1; age <= delay + days; age++) {
        const count = ageCount[age] as number;
        if (count === 0) continue;
        if ((ageFrauds[age] as number) < count) break;
        total += count;
      }
      terminalStreak[window] = total;
      // The day the delay ends on counts once all of it is confirmed fraud (its outcomes arrive through the day).
      const newest = ageCount[delay] as number;
      terminalLatestStreak[window] = newest > 0 && (ageFrauds[delay] as number) >= newest ? total + newest : total;
    }
  }
}

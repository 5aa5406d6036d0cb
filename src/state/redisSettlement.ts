import { TERMINAL_DAY_STRIDE, dayOf, type TransactionHistory } from '../features/entityHistory.js';
import { conflictOf, type RepeatConflict } from './conflictingRepeats.js';
import { decodeCustomerReply, decodeIndexEntry, decodeTerminalReply, indexValue, uncountArgument, type MutableTerminalHistory } from './redisCodec.js';
import { reconcile, type TakeBack } from './redisReconcile.js';
import type { Repair } from './redisRepairs.js';
import type { LateTransaction, TransactionEvent } from './stateStore.js';

/** One round trip settled: each transaction's history or refusal, and what Redis must be sent to match them. */
export interface SettledRoundTrip {
  readonly results: (TransactionHistory | LateTransaction | RepeatConflict)[];
  /** Terminal counts to take back. */
  readonly repairs: Repair[];
  /** Index entries refused transactions wrote, to remove. */
  readonly forgets: { key: string; value: Buffer }[];
  /** The newest event time recorded (-Infinity for none). */
  readonly newest: number;
}

export interface CallSettlementOptions {
  readonly latenessSeconds: number;
  readonly indexKey: (transactionId: bigint) => string;
  /** Told of each count taken back at a terminal. */
  readonly onTakeBack?: (reason: TakeBack) => void;
}

/**
 * Settles the round trips of one record call, in order (RedisStateStore):
 * reads each one's replies (per transaction its customer's, its terminal's
 * and its index entry's), decides what each transaction counts for as the
 * embedded store would (lateness from the customer, repeats from the
 * transaction index), and names the repairs that needs.
 *
 * A call's round trips are pipelined: the next one's scripts may run before
 * the repairs of the one before reach Redis, exactly as later transactions
 * of the same round trip do. So what an earlier round trip decided carries
 * over to the later ones: the counts it took back are taken out of later
 * views of the same terminal, and the index entries its refused
 * transactions wrote count as no earlier recording.
 */
export class CallSettlement {
  /** Index entries refused transactions of this call wrote, by key (most calls have none). */
  private refusedEntries: Map<string, Buffer> | undefined;
  /** Counts taken back earlier in this call: later views of the same terminal must not show them. */
  private takenBack: { terminalId: bigint; day: number }[] | undefined;

  constructor(private readonly options: CallSettlementOptions) {}

  settle(transactions: readonly TransactionEvent[], replies: readonly (Buffer | null)[]): SettledRoundTrip {
    const { latenessSeconds, indexKey: keyOf, onTakeBack } = this.options;
    const results = new Array<TransactionHistory | LateTransaction | RepeatConflict>(transactions.length);
    const repairs: Repair[] = [];
    const forgets = new Map<string, Buffer>();
    let newest = Number.NEGATIVE_INFINITY;
    for (let index = 0; index < transactions.length; index++) {
      const event = transactions[index] as TransactionEvent;
      const customer = decodeCustomerReply(replies[index * 3] as Buffer);
      const terminal = decodeTerminalReply(replies[index * 3 + 1] as Buffer);
      const indexKey = keyOf(event.id);
      const entry = replies[index * 3 + 2] ?? null;
      // The entry an earlier, refused transaction of this call wrote (the same id sent twice) records no repeat.
      const refusedEntry = entry !== null && this.refusedEntries?.get(indexKey)?.equals(entry) === true;
      const recorded = refusedEntry ? undefined : decodeIndexEntry(entry);
      if (this.takenBack !== undefined) correct(terminal.history, event.terminalId, this.takenBack);
      const verdict = reconcile(event, customer.status, terminal.count, recorded, terminal.watermarkBefore - latenessSeconds);
      // (The same customer at the same time is refused again: that entry is never needed.)
      if (verdict.forgetIndex) {
        const value = indexValue(event.customerId, event.terminalId, event.time, event.amount);
        (this.refusedEntries ??= new Map()).set(indexKey, value);
        forgets.set(indexKey, value);
      }
      if (verdict.takeBack !== undefined) {
        onTakeBack?.(verdict.takeBack);
        repairs.push({ terminalId: event.terminalId, argument: uncountArgument(event.id, event.time, terminal.watermarkBefore), gated: false });
        (this.takenBack ??= []).push({ terminalId: event.terminalId, day: dayOf(event.time) });
      }
      if (verdict.late) {
        results[index] = { index, earliestAccepted: customer.earliestAccepted };
        continue;
      }
      const conflict = verdict.duplicate ? conflictOf(event, index, recorded) : undefined;
      if (conflict !== undefined) {
        results[index] = conflict;
        continue;
      }
      if (event.time > newest) newest = event.time;
      results[index] = { customer: customer.history, terminal: terminal.history, duplicate: verdict.duplicate };
    }
    return { results, repairs, forgets: [...forgets].map(([key, value]) => ({ key, value })), newest };
  }
}

/** Takes out of a terminal view the counts taken back earlier in the same call (a refused or repeated transaction). */
function correct(history: MutableTerminalHistory, terminalId: bigint, takenBack: readonly { terminalId: bigint; day: number }[]): void {
  for (const entry of takenBack) {
    if (entry.terminalId !== terminalId) continue;
    for (let index = 0; index < history.dayCount; index++) {
      const base = index * TERMINAL_DAY_STRIDE;
      if (history.days[base] !== entry.day) continue;
      history.days[base + 1] = (history.days[base + 1] as number) - 1;
      break;
    }
  }
}

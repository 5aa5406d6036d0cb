import type { CustomerReply, IndexEntry, TerminalCount } from './redisCodec.js';
import type { TransactionEvent } from './stateStore.js';

/** Why a terminal's count is taken back: the customer refused the transaction, or it was a repeat. */
export type TakeBack = 'late' | 'repeat';

/** What one transaction of a round trip amounts to, once its three answers are put together. */
export interface Reconciled {
  /** Refused: nothing of it may stay recorded. */
  readonly late: boolean;
  /** Recorded before under the same customer and terminal. */
  readonly duplicate: boolean;
  /** The terminal counted it and must not have. */
  readonly takeBack: TakeBack | undefined;
  /** This call wrote the transaction index entry of a refused transaction: remove it. */
  readonly forgetIndex: boolean;
}

/**
 * The embedded store's decision for one transaction (memoryStateStore.ts),
 * from the answers of three scripts that ran independently, one per Cluster
 * slot: the customer's (lateness, and whether it has the id), the
 * terminal's (whether its id set knew the id, and whether it would have
 * known a repeat), and the transaction index's entry before this call (the
 * first recording of the id).
 *
 * - A repeat (same customer and terminal in the index) is never late and
 *   counts nowhere again; a customer that took the transaction as new had no
 *   earlier copy, so an index entry it contradicts is a concurrent call's.
 * - The terminal counts a transaction unless it is late, or the index shows
 *   the id was recorded at this terminal first. A count the id set vouches
 *   for ('counted') is kept: the index entry can then only be a concurrent
 *   call's that reached the index first and the terminal second. The set
 *   vouches only for ids whose event time is at or after `idSetHorizon`
 *   (the terminal's watermark before the call minus the lateness): an id
 *   first recorded earlier may have left it.
 */
export function reconcile(
  event: TransactionEvent,
  customer: CustomerReply['status'],
  terminal: TerminalCount,
  recorded: IndexEntry | undefined,
  idSetHorizon: number,
): Reconciled {
  const repeat = customer !== 'new' && recorded?.customerId === event.customerId && recorded.terminalId === event.terminalId;
  const late = customer === 'late' && !repeat;
  const counted = terminal !== 'seen';
  let takeBack: TakeBack | undefined;
  if (late && counted) takeBack = 'late';
  // The id set vouches only for ids at or after its horizon: an id reused by another card after its first recording left the set is unsure too.
  else if (!late && recorded?.terminalId === event.terminalId && (terminal === 'counted_unsure' || (counted && recorded.time < idSetHorizon))) takeBack = 'repeat';
  // A customer that has the id, at a terminal that had it (seen, or taken back as a repeat): a retry of a reuse.
  return { late, duplicate: repeat || (customer === 'duplicate' && (!counted || takeBack === 'repeat')), takeBack, forgetIndex: late && recorded === undefined };
}

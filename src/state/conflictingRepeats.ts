import type { TransactionEvent } from './stateStore.js';

/**
 * A transaction id sent again with the same customer and terminal but other
 * recorded fields (amount, event time) is not a retry: scoring it would
 * answer on fields the history does not hold. Both stores refuse such a
 * call as a whole, before recording anything of it. (An id sent again under
 * another customer or terminal is a reuse, handled by the stores apart.)
 */

/** The fields of a transaction the history keeps, which a retry must repeat. */
export type RecordedField = 'amount' | 'time';

/** What a store remembers of the first recording of an id (amount NaN: not kept, never compared). */
export interface RecordedTransaction {
  readonly customerId: bigint;
  readonly terminalId: bigint;
  readonly time: number;
  readonly amount: number;
}

export interface RepeatConflict {
  /** Index of the transaction in the call. */
  readonly index: number;
  readonly transactionId: bigint;
  /** The fields that differ, in a fixed order. */
  readonly fields: readonly RecordedField[];
  readonly recorded: { readonly time: number; readonly amount: number };
  readonly sent: { readonly time: number; readonly amount: number };
}

/** The call holds repeats whose recorded fields differ; nothing of it was recorded. */
export class ConflictingRepeatError extends Error {
  override readonly name = 'ConflictingRepeatError';

  constructor(readonly conflicts: readonly RepeatConflict[]) {
    super(`${conflicts.length} transaction id(s) already recorded with other fields`);
  }
}

/** The recorded fields `event` differs in, when it repeats `recorded` (same customer and terminal); else none. */
export function differingFields(event: TransactionEvent, recorded: RecordedTransaction): RecordedField[] {
  if (recorded.customerId !== event.customerId || recorded.terminalId !== event.terminalId) return [];
  const fields: RecordedField[] = [];
  if (!Number.isNaN(recorded.amount) && recorded.amount !== event.amount) fields.push('amount');
  if (recorded.time !== event.time) fields.push('time');
  return fields;
}

/** A conflict of `event` (at `index`) with its first recording, or undefined when it is new or a true retry. */
export function conflictOf(event: TransactionEvent, index: number, recorded: RecordedTransaction | undefined): RepeatConflict | undefined {
  if (recorded === undefined) return undefined;
  const fields = differingFields(event, recorded);
  if (fields.length === 0) return undefined;
  return { index, transactionId: event.id, fields, recorded: { time: recorded.time, amount: recorded.amount }, sent: { time: event.time, amount: event.amount } };
}

/**
 * The conflicting repeats of a call, in order: against what the store has
 * recorded (`recordedOf`), and, for an id the store does not know, against
 * its first occurrence earlier in the same call.
 */
export function conflictingRepeats(transactions: readonly TransactionEvent[], recordedOf: (event: TransactionEvent, index: number) => RecordedTransaction | undefined): RepeatConflict[] {
  let conflicts: RepeatConflict[] | undefined;
  // Only a batch can repeat itself; a single transaction allocates nothing here.
  const earlier = transactions.length > 1 ? new Map<bigint, TransactionEvent>() : undefined;
  for (let index = 0; index < transactions.length; index++) {
    const event = transactions[index] as TransactionEvent;
    let recorded: RecordedTransaction | undefined = recordedOf(event, index);
    if (recorded === undefined && earlier !== undefined) {
      recorded = earlier.get(event.id);
      if (recorded === undefined) earlier.set(event.id, event);
    }
    const conflict = conflictOf(event, index, recorded);
    if (conflict !== undefined) (conflicts ??= []).push(conflict);
  }
  return conflicts ?? [];
}

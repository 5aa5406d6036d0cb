import {
  CUSTOMER_DAY_STRIDE,
  FRAUD_STRIDE,
  RECENT_STRIDE,
  TERMINAL_DAY_STRIDE,
  type CustomerHistory,
  type TerminalHistory,
} from '../features/entityHistory.js';
import type { OutcomeStatus } from './stateStore.js';

/**
 * The byte layouts of redisScripts.ts on the Node side: script arguments
 * packed, replies read back into the packed-array views the features read
 * (the same types the embedded store hands over).
 */

const HEADER_BYTES = 16;
const CUSTOMER_DAY_BYTES = CUSTOMER_DAY_STRIDE * 8;
const RECENT_BYTES = 24;
const TERMINAL_DAY_BYTES = TERMINAL_DAY_STRIDE * 8;
const FRAUD_BYTES = 24;
/** A fraud a correction ended: FRAUD_BYTES and its until. */
const ENDED_FRAUD_BYTES = 32;

/** A reply that does not have the layout the scripts write: a bug or a foreign key, never scored on. */
export class ReplyFormatError extends Error {
  override readonly name = 'ReplyFormatError';
}

/** The 8 bytes of an id as the scripts compare them. */
export function idBytes(id: bigint): Buffer {
  const bytes = Buffer.allocUnsafe(8);
  bytes.writeBigUInt64LE(BigInt.asUintN(64, id));
  return bytes;
}

/** What every record script is told besides the transaction: <d lateness seconds, d days kept, d TTL ms>. */
export function retentionArgument(latenessSeconds: number, keepDays: number, ttlMs: number): Buffer {
  const bytes = Buffer.allocUnsafe(24);
  bytes.writeDoubleLE(latenessSeconds, 0);
  bytes.writeDoubleLE(keepDays, 8);
  bytes.writeDoubleLE(ttlMs, 16);
  return bytes;
}

/** <c8 id, d time, d amount> and the retention: a transaction as CUSTOMER_RECORD takes it. */
export function customerArgument(id: bigint, time: number, amount: number, retention: Buffer): Buffer {
  const bytes = Buffer.allocUnsafe(24 + retention.length);
  bytes.writeBigUInt64LE(BigInt.asUintN(64, id), 0);
  bytes.writeDoubleLE(time, 8);
  bytes.writeDoubleLE(amount, 16);
  retention.copy(bytes, 24);
  return bytes;
}

/** <c8 id, d time> and the retention: a transaction as TERMINAL_RECORD takes it. */
export function terminalArgument(id: bigint, time: number, retention: Buffer): Buffer {
  const bytes = Buffer.allocUnsafe(16 + retention.length);
  bytes.writeBigUInt64LE(BigInt.asUintN(64, id), 0);
  bytes.writeDoubleLE(time, 8);
  retention.copy(bytes, 16);
  return bytes;
}

/** <c8 id, d time, d watermark before>: what TERMINAL_UNCOUNT takes back. */
export function uncountArgument(id: bigint, time: number, watermarkBefore: number): Buffer {
  const bytes = Buffer.allocUnsafe(24);
  bytes.writeBigUInt64LE(BigInt.asUintN(64, id), 0);
  bytes.writeDoubleLE(time, 8);
  bytes.writeDoubleLE(watermarkBefore, 16);
  return bytes;
}

/**
 * <c8 customer id, c8 terminal id, d time, d amount>: the transaction index
 * entry (the amount, so that a repeat with another amount is refused).
 * Entries written before the amount was kept are 24 bytes; both are read.
 */
export function indexValue(customerId: bigint, terminalId: bigint, time: number, amount: number): Buffer {
  const bytes = Buffer.allocUnsafe(INDEX_ENTRY_BYTES);
  bytes.writeBigUInt64LE(BigInt.asUintN(64, customerId), 0);
  bytes.writeBigUInt64LE(BigInt.asUintN(64, terminalId), 8);
  bytes.writeDoubleLE(time, 16);
  bytes.writeDoubleLE(amount, 24);
  return bytes;
}

/** Bytes of an index entry before its outcome; 24 in entries written before the amount was kept. */
const INDEX_ENTRY_BYTES = 32;
const INDEX_ENTRY_BYTES_WITHOUT_AMOUNT = 24;
/** Bytes of an outcome appended to an index entry: <c1 outcome, d known_at>. */
const OUTCOME_BYTES = 9;

/** Bytes of the entry part of an index value (the rest is its outcomes, 9 bytes each: 8 is no multiple of 9). */
function entryBytes(valueLength: number): number {
  return (valueLength - INDEX_ENTRY_BYTES_WITHOUT_AMOUNT) % OUTCOME_BYTES === 0 ? INDEX_ENTRY_BYTES_WITHOUT_AMOUNT : INDEX_ENTRY_BYTES;
}

/** <c1 'f' | 'l', d known_at>: an outcome as OUTCOME_RECORD takes it. */
export function outcomeArgument(outcome: 'fraud' | 'legitimate', knownAt: number): Buffer {
  const bytes = Buffer.allocUnsafe(9);
  bytes.write(outcome === 'fraud' ? 'f' : 'l', 0, 'latin1');
  bytes.writeDoubleLE(knownAt, 1);
  return bytes;
}

/** A transaction's outcome recorded in turn: the first report, then each correction. */
export interface RecordedOutcome {
  readonly outcome: 'fraud' | 'legitimate';
  readonly knownAt: number;
}

/**
 * <c8 transaction id, d day> then <d known_at, d until> per fraud, as
 * TERMINAL_OUTCOME takes them: each fraud of `outcomes` is in force from its
 * known_at until the next outcome's (infinite for the last).
 */
export function terminalOutcomeArgument(transactionId: bigint, day: number, outcomes: readonly RecordedOutcome[]): Buffer | undefined {
  const frauds = outcomes.flatMap((recorded, index) =>
    recorded.outcome === 'fraud' ? [[recorded.knownAt, outcomes[index + 1]?.knownAt ?? Number.POSITIVE_INFINITY] as const] : [],
  );
  if (frauds.length === 0) return undefined;
  const bytes = Buffer.allocUnsafe(16 + frauds.length * 16);
  bytes.writeBigUInt64LE(BigInt.asUintN(64, transactionId), 0);
  bytes.writeDoubleLE(day, 8);
  frauds.forEach(([knownAt, until], index) => {
    bytes.writeDoubleLE(knownAt, 16 + index * 16);
    bytes.writeDoubleLE(until, 24 + index * 16);
  });
  return bytes;
}

export interface CustomerReply {
  /** late: refused, unless the transaction index shows a repeat; then `history` is as kept. */
  readonly status: 'late' | 'new' | 'duplicate';
  /** For a late one: the earliest event time its customer accepts. */
  readonly earliestAccepted: number;
  readonly history: CustomerHistory;
}

const EMPTY_CUSTOMER: CustomerHistory = Object.freeze({ days: new Float64Array(0), dayCount: 0, recent: new Float64Array(0), recentCount: 0 });

export function decodeCustomerReply(reply: Buffer): CustomerReply {
  const status = reply[0];
  if (status === 0x4c /* L */) {
    expectLength(reply, 9, 'customer');
    const earliestAccepted = reply.readDoubleLE(1);
    return { status: 'late', earliestAccepted, history: reply.length === 9 ? EMPTY_CUSTOMER : decodeCustomer(reply, 9) };
  }
  if (status !== 0x4e /* N */ && status !== 0x44 /* D */) throw new ReplyFormatError(`unexpected customer reply status ${String(status)}`);
  return { status: status === 0x4e ? 'new' : 'duplicate', earliestAccepted: Number.NEGATIVE_INFINITY, history: decodeCustomer(reply, 1) };
}

function decodeCustomer(reply: Buffer, start: number): CustomerHistory {
  expectLength(reply, start + HEADER_BYTES, 'customer');
  const dayCount = reply.readUInt32LE(start + 8);
  const recentCount = reply.readUInt32LE(start + 12);
  expectLength(reply, start + HEADER_BYTES + dayCount * CUSTOMER_DAY_BYTES + recentCount * RECENT_BYTES, 'customer', true);
  const days = readDoubles(reply, start + HEADER_BYTES, dayCount * CUSTOMER_DAY_STRIDE);
  const recent = new Float64Array(recentCount * RECENT_STRIDE);
  let offset = start + HEADER_BYTES + dayCount * CUSTOMER_DAY_BYTES;
  for (let base = 0; base < recent.length; base += RECENT_STRIDE) {
    // The id is a u64, little-endian: its low half first (idBits.ts).
    recent[base] = reply.readUInt32LE(offset);
    recent[base + 1] = reply.readUInt32LE(offset + 4);
    recent[base + 2] = reply.readDoubleLE(offset + 8);
    recent[base + 3] = reply.readDoubleLE(offset + 16);
    offset += RECENT_BYTES;
  }
  return { days, dayCount, recent, recentCount };
}

/** 'counted' when the id set would have known a repeat; 'counted_unsure' when the id is older than the set remembers. */
export type TerminalCount = 'seen' | 'counted' | 'counted_unsure';

export interface TerminalReply {
  readonly count: TerminalCount;
  /** The terminal's watermark before this call, for a repair to restore. */
  readonly watermarkBefore: number;
  readonly history: MutableTerminalHistory;
}

/** A terminal view the store may still correct (a count taken back earlier in the same call). */
export interface MutableTerminalHistory extends TerminalHistory {
  readonly days: Float64Array;
}

export function decodeTerminalReply(reply: Buffer): TerminalReply {
  const status = reply[0];
  const count = status === 0x53 /* S */ ? 'seen' : status === 0x4e /* N */ ? 'counted' : status === 0x55 /* U */ ? 'counted_unsure' : undefined;
  if (count === undefined) throw new ReplyFormatError(`unexpected terminal reply status ${String(status)}`);
  const start = 9;
  expectLength(reply, start + HEADER_BYTES, 'terminal');
  const dayCount = reply.readUInt32LE(start + 8);
  const inForce = reply.readUInt32LE(start + 12);
  const endedAt = start + HEADER_BYTES + dayCount * TERMINAL_DAY_BYTES + inForce * FRAUD_BYTES;
  expectLength(reply, endedAt, 'terminal');
  // Frauds a correction ended follow, with their count, only when there are some.
  const ended = reply.length === endedAt ? 0 : (expectLength(reply, endedAt + 4, 'terminal'), reply.readUInt32LE(endedAt));
  expectLength(reply, ended === 0 ? endedAt : endedAt + 4 + ended * ENDED_FRAUD_BYTES, 'terminal', true);
  const days = readDoubles(reply, start + HEADER_BYTES, dayCount * TERMINAL_DAY_STRIDE);
  const fraudCount = inForce + ended;
  const frauds = new Float64Array(fraudCount * FRAUD_STRIDE);
  let offset = start + HEADER_BYTES + dayCount * TERMINAL_DAY_BYTES;
  for (let entry = 0; entry < fraudCount; entry++) {
    // The transaction id (8 bytes) is for idempotency in Redis; the features read day, known_at and until.
    if (entry === inForce) offset += 4;
    frauds[entry * FRAUD_STRIDE] = reply.readDoubleLE(offset + 8);
    frauds[entry * FRAUD_STRIDE + 1] = reply.readDoubleLE(offset + 16);
    frauds[entry * FRAUD_STRIDE + 2] = entry < inForce ? Number.POSITIVE_INFINITY : reply.readDoubleLE(offset + 24);
    offset += entry < inForce ? FRAUD_BYTES : ENDED_FRAUD_BYTES;
  }
  return { count, watermarkBefore: reply.readDoubleLE(1), history: { days, dayCount, frauds, fraudCount } };
}

/** The transaction index entry: the customer, terminal, event time and amount of the first recording of an id. */
export interface IndexEntry {
  readonly customerId: bigint;
  readonly terminalId: bigint;
  readonly time: number;
  /** NaN in an entry written before the amount was kept. */
  readonly amount: number;
}

export function decodeIndexEntry(value: Buffer | null): IndexEntry | undefined {
  if (value === null) return undefined;
  if (value.length < INDEX_ENTRY_BYTES_WITHOUT_AMOUNT) throw new ReplyFormatError(`transaction index entry of ${value.length} bytes`);
  const amount = entryBytes(value.length) === INDEX_ENTRY_BYTES ? value.readDoubleLE(24) : Number.NaN;
  return { customerId: BigInt.asIntN(64, value.readBigUInt64LE(0)), terminalId: BigInt.asIntN(64, value.readBigUInt64LE(8)), time: value.readDoubleLE(16), amount };
}

/** The watermark at the head of a customer's value (GETRANGE 0 7), or -Infinity for none. */
export function decodeWatermark(head: Buffer): number {
  return head.length >= 8 ? head.readDoubleLE(0) : Number.NEGATIVE_INFINITY;
}

/** The statuses of an outcome the script found a recorded transaction for. */
type RecordedOutcomeStatus = Exclude<OutcomeStatus, 'unknown_transaction' | 'before_transaction'>;

export type OutcomeReply =
  | { readonly status: 'unknown_transaction' }
  | { readonly status: 'before_transaction'; readonly time: number }
  | {
      readonly status: RecordedOutcomeStatus;
      readonly terminalId: bigint;
      readonly time: number;
      /** The outcomes recorded after the call, in turn; the last is in force. */
      readonly outcomes: readonly RecordedOutcome[];
    };

const OUTCOME_REPLY_STATUSES: Readonly<Record<number, RecordedOutcomeStatus>> = {
  0x41 /* A */: 'applied',
  0x44 /* D */: 'duplicate',
  0x43 /* C */: 'conflict',
  0x4b /* K */: 'corrected',
  0x4f /* O */: 'out_of_order',
  0x4d /* M */: 'too_many_corrections',
};

export function decodeOutcomeReply(reply: Buffer): OutcomeReply {
  const status = reply[0];
  if (status === 0x55 /* U */) return { status: 'unknown_transaction' };
  if (status === 0x42 /* B */) {
    expectLength(reply, 9, 'outcome');
    return { status: 'before_transaction', time: reply.readDoubleLE(1) };
  }
  const name = status === undefined ? undefined : OUTCOME_REPLY_STATUSES[status];
  if (name === undefined) throw new ReplyFormatError(`unexpected outcome reply status ${String(status)}`);
  // The status letter, then the index value: its entry (with or without the amount) and the outcomes.
  const outcomesAt = 1 + entryBytes(reply.length - 1);
  expectLength(reply, outcomesAt + OUTCOME_BYTES, 'outcome');
  if ((reply.length - outcomesAt) % OUTCOME_BYTES !== 0) throw new ReplyFormatError(`outcome reply of ${reply.length} bytes`);
  const outcomes: RecordedOutcome[] = [];
  for (let at = outcomesAt; at < reply.length; at += OUTCOME_BYTES) {
    outcomes.push({ outcome: reply[at] === 0x66 /* f */ ? 'fraud' : 'legitimate', knownAt: reply.readDoubleLE(at + 1) });
  }
  return { status: name, terminalId: BigInt.asIntN(64, reply.readBigUInt64LE(9)), time: reply.readDoubleLE(17), outcomes };
}

function readDoubles(buffer: Buffer, offset: number, count: number): Float64Array {
  const values = new Float64Array(count);
  for (let index = 0; index < count; index++) values[index] = buffer.readDoubleLE(offset + index * 8);
  return values;
}

function expectLength(buffer: Buffer, length: number, what: string, exact = false): void {
  if (buffer.length < length || (exact && buffer.length !== length)) {
    throw new ReplyFormatError(`${what} reply of ${buffer.length} bytes, expected ${exact ? '' : 'at least '}${length}`);
  }
}

/** Bytes of a kept score: <c8 model reference, d fraud probability, c1 alerted>. */
export const KEPT_SCORE_BYTES = 17;

/** A score as Redis keeps it: its model by reference (redisScores.ts). */
export interface ReferencedScore {
  readonly reference: Buffer;
  readonly probability: number;
  readonly alerted: boolean;
}

/** <c8 customer id, c8 terminal id> then the scores, KEPT_SCORE_BYTES each: what SCORES_KEEP takes. */
export function scoresArgument(customerId: bigint, terminalId: bigint, scores: readonly ReferencedScore[]): Buffer {
  const bytes = Buffer.allocUnsafe(16 + scores.length * KEPT_SCORE_BYTES);
  bytes.writeBigUInt64LE(BigInt.asUintN(64, customerId), 0);
  bytes.writeBigUInt64LE(BigInt.asUintN(64, terminalId), 8);
  scores.forEach((score, index) => {
    const at = 16 + index * KEPT_SCORE_BYTES;
    score.reference.copy(bytes, at, 0, 8);
    bytes.writeDoubleLE(score.probability, at + 8);
    bytes.writeUInt8(score.alerted ? 1 : 0, at + 16);
  });
  return bytes;
}

/** The scores kept with a transaction ({x:<id>}:s), in the order kept. */
export function decodeKeptScores(value: Buffer): ReferencedScore[] {
  if (value.length % KEPT_SCORE_BYTES !== 0) throw new ReplyFormatError(`kept scores of ${value.length} bytes`);
  const scores: ReferencedScore[] = [];
  for (let at = 0; at < value.length; at += KEPT_SCORE_BYTES) {
    scores.push({ reference: value.subarray(at, at + 8), probability: value.readDoubleLE(at + 8), alerted: value[at + 16] === 1 });
  }
  return scores;
}

import { open, readFile, rename, rm } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CUSTOMER_DAY_STRIDE, FRAUD_STRIDE, TERMINAL_DAY_STRIDE } from '../features/entityHistory.js';
import { CustomerRecord, TerminalRecord } from './entityRecords.js';
import { idOf, keyOf, type EntityKey, type MemoryStateStore } from './memoryStateStore.js';

/**
 * Snapshots of the embedded store: the whole history in one binary file,
 * written to a temporary name and renamed (a crash leaves the previous
 * snapshot), restored at start so a restarted pod does not score blind.
 *
 * Layout (little-endian): the magic, a JSON header, then tagged records
 * (customer, terminal, transaction) up to an end tag. Records are written in
 * chunks between turns of the event loop, so calls keep flowing; each record
 * is consistent as of when it was written (what an entity records after its
 * record was written goes in the next snapshot).
 */

const MAGIC = Buffer.from('FRAUDST1');
const TAG_END = 0;
const TAG_CUSTOMER = 1;
const TAG_TERMINAL = 2;
const TAG_TRANSACTION = 3;
const CHUNK_BYTES = 1 << 20;
/**
 * The oldest spec version whose recorded state this service reads unchanged:
 * version 3 added a feature computed from the same state (history.rules kept),
 * so an upgrade keeps the history a version-2 service saved.
 */
const OLDEST_COMPATIBLE_SPEC_VERSION = 2;

export interface SnapshotHeader {
  readonly format: 1;
  /** spec_version of the feature spec whose history rules the state follows. */
  readonly specVersion: number;
  readonly writtenAt: string;
}

/** A snapshot file that cannot be read; the store then starts empty. */
export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';
}

/** Grows a buffer of encoded records and hands full chunks to `flush`. */
class ChunkWriter {
  private buffer = Buffer.allocUnsafe(CHUNK_BYTES + 64 * 1024);
  private offset = 0;
  written = 0;

  constructor(private readonly flush: (chunk: Buffer) => Promise<void>) {}

  ensure(bytes: number): void {
    if (this.offset + bytes <= this.buffer.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.offset + bytes));
    this.buffer.copy(bigger, 0, 0, this.offset);
    this.buffer = bigger;
  }

  u8(value: number): void {
    this.ensure(1);
    this.offset = this.buffer.writeUInt8(value, this.offset);
  }

  u32(value: number): void {
    this.ensure(4);
    this.offset = this.buffer.writeUInt32LE(value, this.offset);
  }

  u64(value: bigint): void {
    this.ensure(8);
    this.offset = this.buffer.writeBigUInt64LE(value, this.offset);
  }

  f64(value: number): void {
    this.ensure(8);
    this.offset = this.buffer.writeDoubleLE(value, this.offset);
  }

  f64s(values: Float64Array, count: number): void {
    for (let index = 0; index < count; index++) this.f64(values[index] as number);
  }

  bytes(value: Buffer): void {
    this.ensure(value.length);
    this.offset += value.copy(this.buffer, this.offset);
  }

  /** True when a chunk is ready to go out (the caller then awaits `drain`). */
  get full(): boolean {
    return this.offset >= CHUNK_BYTES;
  }

  async drain(): Promise<void> {
    if (this.offset === 0) return;
    const chunk = Buffer.from(this.buffer.subarray(0, this.offset));
    this.written += chunk.length;
    this.offset = 0;
    await this.flush(chunk);
  }
}

/** Writes the store's content to `path` (atomically, by rename); resolves with the bytes written. */
export async function writeSnapshot(store: MemoryStateStore, path: string, specVersion: number): Promise<number> {
  const temporary = `${path}.tmp-${process.pid}`;
  const file = await open(temporary, 'w', 0o600);
  try {
    const writer = new ChunkWriter(async (chunk) => {
      await file.write(chunk);
      // Let calls run between chunks.
      await nextTurn();
    });
    const header: SnapshotHeader = { format: 1, specVersion, writtenAt: new Date().toISOString() };
    const headerBytes = Buffer.from(JSON.stringify(header));
    writer.bytes(MAGIC);
    writer.u32(headerBytes.length);
    writer.bytes(headerBytes);
    writer.f64(store.watermark);
    for (const [key, customer] of store.customers) {
      writer.u8(TAG_CUSTOMER);
      writer.u64(idOf(key));
      writer.f64(customer.watermark);
      writer.u32(customer.dayCount);
      writer.f64s(customer.days, customer.dayCount * CUSTOMER_DAY_STRIDE);
      writer.u32(customer.recent.length);
      for (const recent of customer.recent) {
        writer.u64(recent.id);
        writer.f64(recent.time);
        writer.f64(recent.amount);
      }
      if (writer.full) await writer.drain();
    }
    for (const [key, terminal] of store.terminals) {
      writer.u8(TAG_TERMINAL);
      writer.u64(idOf(key));
      writer.f64(terminal.watermark);
      writer.u32(terminal.dayCount);
      writer.f64s(terminal.days, terminal.dayCount * TERMINAL_DAY_STRIDE);
      writer.u32(terminal.fraudCount);
      writer.f64s(terminal.frauds, terminal.fraudCount * FRAUD_STRIDE);
      if (writer.full) await writer.drain();
    }
    for (const [id, recorded] of store.transactions.entries()) {
      writer.u8(TAG_TRANSACTION);
      writer.u64(id);
      writer.u64(recorded.customerId);
      writer.u64(recorded.terminalId);
      writer.f64(recorded.time);
      writer.u8(recorded.outcome);
      writer.f64(recorded.knownAt);
      if (writer.full) await writer.drain();
    }
    writer.u8(TAG_END);
    await writer.drain();
    await file.sync();
    await file.close();
    await rename(temporary, path);
    return writer.written;
  } catch (error) {
    await file.close().catch(() => undefined);
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Reads a snapshot into an empty store; resolves with its header, or undefined when there is no file. */
export async function restoreSnapshot(store: MemoryStateStore, path: string, specVersion: number): Promise<SnapshotHeader | undefined> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SnapshotError(`cannot read ${path}: ${(error as Error).message}`);
  }
  const reader = new Reader(data, path);
  if (!reader.take(MAGIC.length).equals(MAGIC)) throw new SnapshotError(`${path} is not a state snapshot`);
  let parsed: Partial<Record<keyof SnapshotHeader, unknown>>;
  try {
    parsed = JSON.parse(reader.take(reader.u32()).toString('utf8')) as Partial<Record<keyof SnapshotHeader, unknown>>;
  } catch {
    throw new SnapshotError(`${path}: unreadable header`);
  }
  if (parsed.format !== 1) throw new SnapshotError(`${path}: snapshot format ${String(parsed.format)} is not supported`);
  const saved = parsed.specVersion;
  if (typeof saved !== 'number' || saved < OLDEST_COMPATIBLE_SPEC_VERSION || saved > specVersion) {
    throw new SnapshotError(
      `${path} follows feature spec ${String(saved)}; this service reads the state of versions ${OLDEST_COMPATIBLE_SPEC_VERSION} to ${specVersion}`,
    );
  }
  const header: SnapshotHeader = { format: 1, specVersion: saved, writtenAt: String(parsed.writtenAt) };
  // Parse everything before touching the store: a truncated file changes nothing.
  const customers = new Map<EntityKey, CustomerRecord>();
  const terminals = new Map<EntityKey, TerminalRecord>();
  const transactions: [bigint, { customerId: bigint; terminalId: bigint; time: number; outcome: 0 | 1 | 2; knownAt: number }][] = [];
  const watermark = reader.f64();
  for (;;) {
    const tag = reader.u8();
    if (tag === TAG_END) break;
    if (tag === TAG_CUSTOMER) {
      const id = reader.u64();
      const customer = new CustomerRecord();
      customer.watermark = reader.f64();
      const dayCount = reader.u32();
      for (let day = 0; day < dayCount; day++) customer.addToDay(reader.f64(), reader.f64(), reader.f64(), reader.f64());
      const recentCount = reader.u32();
      for (let index = 0; index < recentCount; index++) customer.recent.push({ id: reader.u64(), time: reader.f64(), amount: reader.f64() });
      customers.set(keyOf(id), customer);
    } else if (tag === TAG_TERMINAL) {
      const id = reader.u64();
      const terminal = new TerminalRecord();
      terminal.watermark = reader.f64();
      const dayCount = reader.u32();
      for (let day = 0; day < dayCount; day++) terminal.addToDay(reader.f64(), reader.f64());
      const fraudCount = reader.u32();
      for (let index = 0; index < fraudCount; index++) terminal.addFraud(reader.f64(), reader.f64());
      terminals.set(keyOf(id), terminal);
    } else if (tag === TAG_TRANSACTION) {
      const id = reader.u64();
      const customerId = reader.u64();
      const terminalId = reader.u64();
      const time = reader.f64();
      const outcome = reader.u8();
      const knownAt = reader.f64();
      if (outcome > 2) throw new SnapshotError(`${path}: corrupt transaction record`);
      transactions.push([id, { customerId, terminalId, time, outcome: outcome as 0 | 1 | 2, knownAt }]);
    } else {
      throw new SnapshotError(`${path}: corrupt record tag ${tag} at byte ${reader.offset - 1}`);
    }
  }
  for (const [id, customer] of customers) store.customers.set(id, customer);
  for (const [id, terminal] of terminals) store.terminals.set(id, terminal);
  for (const [id, recorded] of transactions) {
    store.transactions.add(id, recorded.customerId, recorded.terminalId, recorded.time);
    if (recorded.outcome !== 0) store.transactions.setOutcome(id, recorded.outcome, recorded.knownAt);
  }
  store.watermark = Math.max(store.watermark, watermark);
  return header;
}

class Reader {
  offset = 0;

  constructor(
    private readonly data: Buffer,
    private readonly path: string,
  ) {}

  private need(bytes: number): void {
    if (this.offset + bytes > this.data.length) throw new SnapshotError(`${this.path} is truncated (at byte ${this.offset})`);
  }

  take(bytes: number): Buffer {
    this.need(bytes);
    const slice = this.data.subarray(this.offset, this.offset + bytes);
    this.offset += bytes;
    return slice;
  }

  u8(): number {
    this.need(1);
    return this.data.readUInt8(this.offset++);
  }

  u32(): number {
    this.need(4);
    const value = this.data.readUInt32LE(this.offset);
    this.offset += 4;
    return value;
  }

  u64(): bigint {
    this.need(8);
    const value = this.data.readBigUInt64LE(this.offset);
    this.offset += 8;
    return value;
  }

  f64(): number {
    this.need(8);
    const value = this.data.readDoubleLE(this.offset);
    this.offset += 8;
    return value;
  }
}

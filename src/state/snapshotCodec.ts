import { crc32 } from 'node:zlib';
import { SnapshotError } from './snapshotFiles.js';

/**
 * The byte-level codec of state snapshots (stateSnapshot.ts): a writer that
 * streams chunks out with the running CRC-32 of the bytes it covers, and a
 * bounds-checked reader whose overruns are SnapshotErrors.
 */

const CHUNK_BYTES = 1 << 20;
export const CHECKSUM_BYTES = 4;

/** Grows a buffer of encoded records and hands full chunks to `flush`, with the running CRC-32 of them all. */
export class ChunkWriter {
  private buffer = Buffer.allocUnsafe(CHUNK_BYTES + 64 * 1024);
  private offset = 0;
  written = 0;
  checksum = 0;
  /** Bytes of the buffer the checksum leaves out. */
  private unchecked: { start: number; end: number } | undefined;

  constructor(private readonly flush: (chunk: Buffer) => Promise<unknown>) {}

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

  u16(value: number): void {
    this.ensure(2);
    this.offset = this.buffer.writeUInt16LE(value, this.offset);
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

  f64s(values: ArrayLike<number>, count: number): void {
    this.ensure(count * 8);
    for (let index = 0; index < count; index++) this.offset = this.buffer.writeDoubleLE(values[index] as number, this.offset);
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
    const { unchecked } = this;
    if (unchecked === undefined) {
      this.checksum = crc32(chunk, this.checksum);
    } else {
      this.checksum = crc32(chunk.subarray(unchecked.end), crc32(chunk.subarray(0, unchecked.start), this.checksum));
      this.unchecked = undefined;
    }
    this.written += chunk.length;
    this.offset = 0;
    await this.flush(chunk);
  }

  /**
   * Adds `value` outside the running checksum: a part of the file with a
   * checksum of its own, whose damage must not make the rest unreadable. One
   * such part per chunk (the snapshot has one, right after its header).
   */
  uncheckedBytes(value: Buffer): void {
    if (this.unchecked !== undefined) throw new Error('one unchecked part per chunk');
    const start = this.offset;
    this.bytes(value);
    this.unchecked = { start, end: this.offset };
  }

  /** Writes what is left, then the CRC-32 of everything before it. */
  async finish(): Promise<void> {
    await this.drain();
    const trailer = Buffer.alloc(CHECKSUM_BYTES);
    trailer.writeUInt32LE(this.checksum);
    this.written += trailer.length;
    await this.flush(trailer);
  }
}

export class Reader {
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

  u16(): number {
    this.need(2);
    const value = this.data.readUInt16LE(this.offset);
    this.offset += 2;
    return value;
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

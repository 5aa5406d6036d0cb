/**
 * The protobuf wire format at its lowest level: tags, varints, lengths and
 * skipping, with every bound checked. The request decoding walks requests
 * with it before the generated code decodes them (the generated decoder
 * skips what it does not expect and throws untyped errors on the rest).
 */

export const WireType = {
  Varint: 0,
  Bit64: 1,
  LengthDelimited: 2,
  StartGroup: 3,
  EndGroup: 4,
  Bit32: 5,
} as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

export const WIRE_TYPE_NAMES: readonly string[] = ['varint', '64-bit', 'length-delimited', 'start-group', 'end-group', '32-bit'];

/** Bytes that are not a protobuf message; `offset` is where reading failed. */
export class WireError extends Error {
  override readonly name = 'WireError';

  constructor(
    readonly problem: string,
    readonly offset: number,
  ) {
    super(`${problem} at byte ${offset}`);
  }

  /** The problem with its offset counted from `origin` (where the message being read starts). */
  problemAt(origin: number): string {
    return `${this.problem} at byte ${this.offset - origin}`;
  }
}

/** A varint never takes more than 10 bytes (64 bits, 7 per byte). */
const MAX_VARINT_BYTES = 10;
/** Groups nest; a hostile message must not recurse without end. */
const MAX_GROUP_DEPTH = 32;

/** Reads one message's bytes, from `pos` to `end`. */
export class WireCursor {
  pos: number;

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint that must fit in 32 bits unsigned (tags, lengths). */
  uint32(): number {
    // Most tags and lengths fit in one byte.
    if (this.pos < this.end) {
      const first = this.bytes[this.pos] as number;
      if (first < 0x80) {
        this.pos++;
        return first;
      }
    }
    return this.longUint32();
  }

  private longUint32(): number {
    const start = this.pos;
    let value = 0;
    for (let index = 0; index < MAX_VARINT_BYTES; index++) {
      if (this.pos >= this.end) throw new WireError('truncated varint', start);
      const byte = this.bytes[this.pos++] as number;
      if (index < 5) value += (byte & 0x7f) * 2 ** (7 * index);
      else if ((byte & 0x7f) !== 0) throw new WireError('varint does not fit in 32 bits', start);
      if ((byte & 0x80) === 0) {
        if (value > 0xffff_ffff) throw new WireError('varint does not fit in 32 bits', start);
        return value;
      }
    }
    throw new WireError('varint longer than 10 bytes', start);
  }

  /** Reads a length-delimited field's length and moves past its payload; returns where the payload starts (it ends at `pos`). */
  payload(): number {
    const lengthAt = this.pos;
    const length = this.uint32();
    const start = this.pos;
    if (length > this.end - start) throw new WireError(`length ${length} runs past the end of the message`, lengthAt);
    this.pos = start + length;
    return start;
  }

  /** Skips the value of a field of `wireType` (read after its tag). */
  skip(wireType: number, fieldNumber: number, depth = 0): void {
    switch (wireType) {
      case WireType.Varint:
        this.skipVarint();
        return;
      case WireType.Bit64:
        this.advance(8);
        return;
      case WireType.Bit32:
        this.advance(4);
        return;
      case WireType.LengthDelimited:
        this.payload();
        return;
      case WireType.StartGroup:
        this.skipGroup(fieldNumber, depth);
        return;
      case WireType.EndGroup:
        throw new WireError('end-group without a start-group', this.pos);
      default:
        throw new WireError(`invalid wire type ${wireType}`, this.pos);
    }
  }

  private skipVarint(): void {
    const start = this.pos;
    for (let index = 0; index < MAX_VARINT_BYTES; index++) {
      if (this.pos >= this.end) throw new WireError('truncated varint', start);
      if (((this.bytes[this.pos++] as number) & 0x80) === 0) return;
    }
    throw new WireError('varint longer than 10 bytes', start);
  }

  private advance(count: number): void {
    if (this.end - this.pos < count) throw new WireError(`truncated ${count * 8}-bit value`, this.pos);
    this.pos += count;
  }

  private skipGroup(fieldNumber: number, depth: number): void {
    if (depth >= MAX_GROUP_DEPTH) throw new WireError('groups nested too deep', this.pos);
    for (;;) {
      if (this.done) throw new WireError(`group ${fieldNumber} never ends`, this.pos);
      const tagStart = this.pos;
      const tag = this.uint32();
      const innerNumber = tag >>> 3;
      const innerType = tag & 7;
      if (innerNumber === 0) throw new WireError('field number 0', tagStart);
      if (innerType === WireType.EndGroup) {
        if (innerNumber !== fieldNumber) throw new WireError(`end-group ${innerNumber} closes group ${fieldNumber}`, this.pos);
        return;
      }
      this.skip(innerType, innerNumber, depth + 1);
    }
  }
}

/** Encodes a varint (lengths and tags of rebuilt fields). */
export function encodeVarint(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return out;
}

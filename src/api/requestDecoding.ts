import type { ServiceDefinition } from '@grpc/grpc-js';
import { FileDescriptorSet } from '../gen/google/protobuf/descriptor.js';
import { MalformedRequestError } from './apiErrors.js';
import type { RowHold } from './rowAdmission.js';
import { WIRE_TYPE_NAMES, WireCursor, WireError, WireType, encodeVarint } from './protoWire.js';
import { methodInputTypes, WireSchema, type FieldShape, type MessageShape } from './wireSchema.js';

/**
 * Requests are walked on the wire before the generated code decodes them,
 * because the generated decoder (ts-proto) gets several things wrong for a
 * public API:
 *
 * - a singular message field sent twice must be merged (protobuf's rule);
 *   the generated decoder keeps the last one. Merging is concatenating the
 *   occurrences' bytes, which is how protobuf defines a merge, at every depth;
 * - bytes that are not protobuf make it throw untyped errors, which grpc-js
 *   answers with INTERNAL; a field with the wrong wire type is silently
 *   dropped;
 * - a google.protobuf.Timestamp outside its defined range (years 1 to 9999,
 *   nanos 0 to 999,999,999) becomes a Date anyway, and nanos overflow into
 *   seconds;
 * - a map key `__proto__` is dropped by the plain object it decodes into;
 * - strings are not checked to be UTF-8.
 *
 * Each of those becomes a MalformedRequestError (INVALID_ARGUMENT, with the
 * field path), returned in place of the request: grpc-js would turn an
 * exception thrown here into INTERNAL. A request that passes is handed on
 * undecoded, as a CheckedRequest.
 */

/** The range protobuf defines for a Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z. */
export const TIMESTAMP_MIN_SECONDS = -62_135_596_800n;
export const TIMESTAMP_MAX_SECONDS = 253_402_300_799n;
const MAX_NANOS = 999_999_999;

/** A map key that a plain JavaScript object cannot hold as a key. */
const UNHOLDABLE_KEY = '__proto__';
const UNHOLDABLE_KEY_BYTES = [...new TextEncoder().encode(UNHOLDABLE_KEY)];
/** Field 1 (a map entry's key), length-delimited. */
const KEY_TAG = (1 << 3) | 2;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One problem, found at one field path. */
class FieldProblem extends Error {
  constructor(
    readonly field: string,
    readonly description: string,
  ) {
    super(`${field}: ${description}`);
  }
}

/**
 * Where a message sits in the request: its parent, its field name and, for
 * an element of a repeated field, its index (-1 otherwise). Turned into a
 * path (`transactions[3].tx_datetime`) only when something is wrong.
 */
interface Place {
  readonly parent: Place | undefined;
  readonly name: string;
  readonly index: number;
}

const ROOT: Place = { parent: undefined, name: '', index: -1 };

/** The field path of `place`, or of its field `field`. */
function pathOf(place: Place, field?: string): string {
  const own = place.index >= 0 ? `${place.name}[${place.index}]` : place.name;
  const path = place.parent === undefined ? own : [pathOf(place.parent), own].filter((part) => part !== '').join('.');
  return field === undefined ? path : [path, field].filter((part) => part !== '').join('.');
}

/**
 * A request checked on the wire but not decoded yet. Admission control reads
 * how many rows (transactions) it carries before the decoding is paid for, and
 * a call that waits for a slow client to read its answer keeps only these
 * bytes, not thousands of decoded objects.
 */
export class CheckedRequest<T> {
  /**
   * The rows admission control took for this request, when it is one message
   * of a stream: they travel with it to the handler, which gives them back once
   * the request's answer is written (see predictStream.ts).
   */
  admitted: RowHold | undefined;

  constructor(
    readonly messageType: string,
    /** Transactions in the request: elements of repeated fields of the row type, plus singular ones present. */
    readonly rows: number,
    private readonly bytes: Buffer,
    private readonly decoder: (bytes: Buffer) => T,
  ) {}

  /** The generated message, or a MalformedRequestError if the generated decoder still refuses the bytes. */
  decode(): T | MalformedRequestError {
    try {
      return this.decoder(this.bytes);
    } catch (error) {
      return new MalformedRequestError(this.messageType, [
        { field: '', description: `is not a valid ${this.messageType} message: ${error instanceof Error ? error.message : String(error)}` },
      ]);
    }
  }
}

/**
 * Checks `bytes` as a `shape` message, merging repeated occurrences of
 * singular message fields. Never throws: what is wrong comes back as a
 * MalformedRequestError.
 */
export function checkRequest<T>(bytes: Buffer, shape: MessageShape, decoder: (bytes: Buffer) => T): CheckedRequest<T> | MalformedRequestError {
  try {
    const normalized = normalize(bytes, 0, bytes.length, shape, ROOT);
    const checked = normalized === undefined ? bytes : Buffer.from(normalized.buffer, normalized.byteOffset, normalized.byteLength);
    return new CheckedRequest(shape.fullName, countRows(checked, shape), checked, decoder);
  } catch (error) {
    if (!(error instanceof FieldProblem)) throw error;
    return new MalformedRequestError(shape.fullName, [{ field: error.field, description: error.description }]);
  }
}

/**
 * Strict request decoding for services of one descriptor set. `rowTypes` are
 * the messages counted as a row each (fraud.v1.Transaction,
 * fraud.v1.TransactionOutcome) wherever a request carries them.
 */
export class StrictDecoding {
  private readonly schema: WireSchema;
  private readonly inputTypes: ReadonlyMap<string, string>;

  constructor(descriptorSet: Uint8Array, rowTypes: readonly string[]) {
    const { file: files } = FileDescriptorSet.decode(descriptorSet);
    this.schema = new WireSchema(files, rowTypes);
    this.inputTypes = methodInputTypes(files);
  }

  /**
   * The service definition with request deserializers that check requests
   * strictly: handlers get a CheckedRequest or a MalformedRequestError
   * (never an exception, which grpc-js would answer with INTERNAL).
   */
  wrap(definition: ServiceDefinition): ServiceDefinition {
    const wrapped: Record<string, ServiceDefinition[string]> = {};
    for (const [name, method] of Object.entries(definition)) {
      const shape = this.inputShape(method.path);
      const decoder: (bytes: Buffer) => object = method.requestDeserialize;
      wrapped[name] = { ...method, requestDeserialize: (bytes: Buffer): object => checkRequest(bytes, shape, decoder) };
    }
    return wrapped;
  }

  /** True when the requests of the method at `path` carry rows (its calls are scoring calls). */
  carriesRows(path: string): boolean {
    const inputType = this.inputTypes.get(path);
    return inputType !== undefined && this.schema.message(inputType).rowFields.size > 0;
  }

  private inputShape(path: string): MessageShape {
    const inputType = this.inputTypes.get(path);
    if (inputType === undefined) throw new Error(`method ${path} is not in the descriptor set`);
    return this.schema.message(inputType);
  }
}

/** Rows of a checked message: its top-level fields of the row type (checked already, so no bounds errors). */
function countRows(bytes: Uint8Array, shape: MessageShape): number {
  if (shape.rowFields.size === 0) return 0;
  const cursor = new WireCursor(bytes);
  let rows = 0;
  const singularSeen = new Set<number>();
  while (!cursor.done) {
    const tag = cursor.uint32();
    const number = tag >>> 3;
    const field = shape.rowFields.get(number);
    cursor.skip(tag & 7, number);
    if (field === undefined || (tag & 7) !== WireType.LengthDelimited) continue;
    if (field.repeated) rows++;
    else if (!singularSeen.has(number)) {
      singularSeen.add(number);
      rows++;
    }
  }
  return rows;
}

/** Where a message field occurred: the whole field [tagStart, end) and its payload [start, end). */
interface Occurrence {
  readonly field: FieldShape;
  readonly tagStart: number;
  readonly start: number;
  readonly end: number;
  /** The element rewritten (repeated fields), when it changed. */
  readonly replacement: Uint8Array | undefined;
}

/**
 * Walks one message, depth first; returns its bytes rewritten when a singular
 * message field occurred more than once at any depth, else undefined
 * (unchanged: the common case, with no copy). Throws FieldProblem. The hot
 * path of every call: it allocates nothing per field, and builds a field path
 * only when something is wrong or a nested message must be walked.
 */
function normalize(bytes: Uint8Array, start: number, end: number, shape: MessageShape, place: Place): Uint8Array | undefined {
  const cursor = new WireCursor(bytes, start, end);
  // Singular message fields (merged and walked once the message is read) and rewritten repeated elements.
  let pending: Occurrence[] | undefined;
  let elements = 0;
  let seconds = 0n;
  let nanos = 0;
  try {
    while (!cursor.done) {
      const tagStart = cursor.pos;
      const tag = cursor.uint32();
      const number = tag >>> 3;
      const wireType = tag & 7;
      if (number === 0) throw new WireError('field number 0', tagStart);
      const field = shape.fieldsByNumber[number] ?? (number >= shape.fieldsByNumber.length ? shape.fields.get(number) : undefined);
      if (field === undefined) {
        cursor.skip(wireType, number);
        continue;
      }
      if (wireType !== field.wireType && !(field.packable && wireType === WireType.LengthDelimited)) {
        throw new FieldProblem(
          pathOf(place, field.name),
          `has wire type ${WIRE_TYPE_NAMES[wireType] ?? wireType}; the field needs ${WIRE_TYPE_NAMES[field.wireType] ?? field.wireType}`,
        );
      }
      if (field.message !== undefined) {
        const payloadStart = cursor.payload();
        const payloadEnd = cursor.pos;
        if (!field.repeated) {
          (pending ??= []).push({ field, tagStart, start: payloadStart, end: payloadEnd, replacement: undefined });
          continue;
        }
        const message = field.message;
        const elementPlace: Place = { parent: place, name: field.name, index: message.isMapEntry ? -1 : elements++ };
        const replacement = normalize(bytes, payloadStart, payloadEnd, message, elementPlace);
        if (message.isMapEntry) checkMapKey(bytes, payloadStart, payloadEnd, elementPlace);
        if (replacement !== undefined) (pending ??= []).push({ field, tagStart, start: payloadStart, end: payloadEnd, replacement });
      } else if (field.isString) {
        const textStart = cursor.payload();
        checkUtf8(bytes, textStart, cursor.pos, { parent: place, name: field.name, index: -1 });
      } else if (shape.isTimestamp && wireType === WireType.Varint) {
        const value = readVarint64(cursor);
        if (number === 1) seconds = BigInt.asIntN(64, value);
        else if (number === 2) nanos = Number(BigInt.asIntN(32, value));
      } else {
        cursor.skip(wireType, number);
      }
    }
  } catch (error) {
    if (error instanceof WireError) throw new FieldProblem(pathOf(place), `is not valid protobuf: ${error.problemAt(start)}`);
    throw error;
  }
  if (shape.isTimestamp) checkTimestamp(seconds, nanos, place);
  return pending === undefined ? undefined : mergeSingular(bytes, start, end, pending, place);
}

/** Walks the singular message fields of a message, merging each one's occurrences; rebuilds the message if anything changed. */
function mergeSingular(bytes: Uint8Array, start: number, end: number, pending: Occurrence[], place: Place): Uint8Array | undefined {
  const singular = new Map<FieldShape, Occurrence[]>();
  let changed = false;
  for (const occurrence of pending) {
    if (occurrence.field.repeated) {
      changed = true;
      continue;
    }
    const list = singular.get(occurrence.field);
    if (list === undefined) singular.set(occurrence.field, [occurrence]);
    else list.push(occurrence);
  }
  const merged = new Map<FieldShape, Uint8Array>();
  for (const [field, list] of singular) {
    const message = field.message as MessageShape;
    const fieldPlace: Place = { parent: place, name: field.name, index: -1 };
    if (list.length === 1) {
      const only = list[0] as Occurrence;
      const rewritten = normalize(bytes, only.start, only.end, message, fieldPlace);
      if (rewritten !== undefined) merged.set(field, rewritten);
    } else {
      // Protobuf's merge of a singular message field: parse the concatenation of every occurrence.
      const concatenated = concat(list.map((occurrence) => bytes.subarray(occurrence.start, occurrence.end)));
      merged.set(field, normalize(concatenated, 0, concatenated.length, message, fieldPlace) ?? concatenated);
    }
  }
  if (!changed && merged.size === 0) return undefined;
  return rebuild(bytes, start, end, pending, merged);
}

/** The message with singular fields in `merged` written once, at the end, and rewritten elements in place. */
function rebuild(bytes: Uint8Array, start: number, end: number, occurrences: readonly Occurrence[], merged: ReadonlyMap<FieldShape, Uint8Array>): Uint8Array {
  const pieces: Uint8Array[] = [];
  let copied = start;
  for (const occurrence of occurrences) {
    const { field } = occurrence;
    if (!field.repeated && !merged.has(field)) continue;
    pieces.push(bytes.subarray(copied, occurrence.tagStart));
    if (occurrence.replacement !== undefined) pieces.push(lengthDelimited(field.number, occurrence.replacement));
    copied = occurrence.end;
  }
  pieces.push(bytes.subarray(copied, end));
  for (const [field, payload] of merged) pieces.push(lengthDelimited(field.number, payload));
  return concat(pieces);
}

function lengthDelimited(fieldNumber: number, payload: Uint8Array): Uint8Array {
  const header = [...encodeVarint(fieldNumber * 8 + WireType.LengthDelimited), ...encodeVarint(payload.length)];
  const out = new Uint8Array(header.length + payload.length);
  out.set(header, 0);
  out.set(payload, header.length);
  return out;
}

function concat(pieces: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}

/** A map key must be one a JavaScript object can hold (the decoded map is a plain object). */
function checkMapKey(bytes: Uint8Array, start: number, end: number, entry: Place): void {
  const cursor = new WireCursor(bytes, start, end);
  let isUnholdable = false;
  while (!cursor.done) {
    const tag = cursor.uint32();
    if (tag === KEY_TAG) {
      const keyStart = cursor.payload();
      isUnholdable = cursor.pos - keyStart === UNHOLDABLE_KEY_BYTES.length && UNHOLDABLE_KEY_BYTES.every((byte, index) => bytes[keyStart + index] === byte);
    } else {
      cursor.skip(tag & 7, tag >>> 3);
    }
  }
  if (isUnholdable) {
    throw new FieldProblem(`${pathOf(entry)}[${UNHOLDABLE_KEY}]`, 'is not an accepted key (reserved in JavaScript, so no model input can have this name)');
  }
}

function checkUtf8(bytes: Uint8Array, start: number, end: number, place: Place): void {
  // ASCII needs no decoding; anything else must be valid UTF-8, as proto3 strings are.
  for (let index = start; index < end; index++) {
    if ((bytes[index] as number) >= 0x80) {
      try {
        utf8.decode(bytes.subarray(start, end));
      } catch {
        throw new FieldProblem(pathOf(place), 'is not valid UTF-8');
      }
      return;
    }
  }
}

function checkTimestamp(seconds: bigint, nanos: number, place: Place): void {
  if (nanos < 0 || nanos > MAX_NANOS) {
    throw new FieldProblem(pathOf(place, 'nanos'), `must be from 0 to ${MAX_NANOS}, got ${nanos}`);
  }
  if (seconds < TIMESTAMP_MIN_SECONDS || seconds > TIMESTAMP_MAX_SECONDS) {
    throw new FieldProblem(
      pathOf(place),
      `must be from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z (seconds ${TIMESTAMP_MIN_SECONDS} to ${TIMESTAMP_MAX_SECONDS}), got seconds ${seconds}`,
    );
  }
}

/** A varint as 64 unsigned bits (callers reinterpret the sign). */
function readVarint64(cursor: WireCursor): bigint {
  const start = cursor.pos;
  let value = 0n;
  for (let index = 0; index < 10; index++) {
    if (cursor.done) throw new WireError('truncated varint', start);
    const byte = cursor.bytes[cursor.pos++] as number;
    value |= BigInt(byte & 0x7f) << BigInt(7 * index);
    if ((byte & 0x80) === 0) return BigInt.asUintN(64, value);
  }
  throw new WireError('varint longer than 10 bytes', start);
}

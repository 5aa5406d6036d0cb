import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { fieldViolationsOf, type FieldViolation } from '../../client/fraudClient.js';

export interface RawOutcome {
  readonly code: number;
  readonly details: string;
  readonly violations: FieldViolation[];
  readonly answer: Buffer | undefined;
}

const identity = (bytes: Buffer): Buffer => bytes;

/**
 * Calls `path` with `body` as the request message, byte for byte (no
 * encoding), the way a client with another protobuf library, or a broken
 * one, would; resolves with the status, the field violations and the
 * undecoded answer.
 */
export function callRaw(address: string, path: string, body: Uint8Array, deadlineMs = 10_000): Promise<RawOutcome> {
  const client = new Client(address, credentials.createInsecure());
  return new Promise<RawOutcome>((resolveCall) => {
    client.makeUnaryRequest(path, identity, identity, Buffer.from(body), new Metadata(), { deadline: Date.now() + deadlineMs }, (error: ServiceError | null, answer?: Buffer) => {
      if (error === null) resolveCall({ code: 0, details: '', violations: [], answer });
      else resolveCall({ code: error.code, details: error.details, violations: fieldViolationsOf(error.metadata), answer: undefined });
    });
  }).finally(() => {
    client.close();
  });
}

/** Protobuf wire bytes by hand: a tag, a varint, a length-delimited field. */
export const wire = {
  varint(value: number | bigint): number[] {
    const out: number[] = [];
    let rest = BigInt.asUintN(64, BigInt(value));
    while (rest >= 0x80n) {
      out.push(Number(rest & 0x7fn) | 0x80);
      rest >>= 7n;
    }
    out.push(Number(rest));
    return out;
  },
  tag(field: number, wireType: number): number[] {
    return wire.varint(field * 8 + wireType);
  },
  varintField(field: number, value: number | bigint): number[] {
    return [...wire.tag(field, 0), ...wire.varint(value)];
  },
  doubleField(field: number, value: number): number[] {
    const bytes = Buffer.alloc(8);
    bytes.writeDoubleLE(value);
    return [...wire.tag(field, 1), ...bytes];
  },
  bytesField(field: number, payload: Uint8Array | number[]): number[] {
    return [...wire.tag(field, 2), ...wire.varint(payload.length), ...payload];
  },
  stringField(field: number, text: string): number[] {
    return wire.bytesField(field, [...Buffer.from(text, 'utf8')]);
  },
};

/**
 * A 64-bit id as two numbers, its low and high 32 bits (unsigned), so that
 * ids can be kept in plain arrays of numbers and compared without a bigint
 * per entry. Ids are int64 on the wire; they are taken modulo 2^64.
 */

const TWO_32 = 4_294_967_296;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export function lowBits(id: bigint): number {
  return id >= 0n && id <= MAX_SAFE ? Number(id) % TWO_32 : Number(BigInt.asUintN(32, id));
}

export function highBits(id: bigint): number {
  return id >= 0n && id <= MAX_SAFE ? Math.floor(Number(id) / TWO_32) : Number(BigInt.asUintN(32, BigInt.asUintN(64, id) >> 32n));
}

/** The id two halves stand for, read back as a signed int64 (the wire type). */
export function idOfBits(low: number, high: number): bigint {
  if (high < 0x200000) return BigInt(high * TWO_32 + low);
  return BigInt.asIntN(64, (BigInt(high) << 32n) | BigInt(low));
}

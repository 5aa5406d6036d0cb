/**
 * Map key of an id: a number when exact (ids below 2^53, the common case, and
 * much faster to hash than a bigint), else its decimal text.
 */
export type EntityKey = number | string;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export function keyOf(id: bigint): EntityKey {
  return id <= MAX_SAFE ? Number(id) : id.toString();
}

/** The id a key stands for. */
export function idOf(key: EntityKey): bigint {
  return BigInt(key);
}

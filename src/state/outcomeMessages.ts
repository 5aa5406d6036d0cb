/**
 * What each outcome status tells people, worded once for both stores (the
 * statuses are models/feature-spec.json's; the words are the API's).
 */

export function unknownTransactionMessage(transactionId: bigint): string {
  return `transaction ${transactionId} is not recorded (never scored here, or older than the history kept)`;
}

export function beforeTransactionMessage(knownAt: number, transactionTime: number): string {
  return `known_at ${isoTime(knownAt)} is before the transaction's event time ${isoTime(transactionTime)}`;
}

export function duplicateOutcomeMessage(recordedKnownAt: number): string {
  return `this outcome was already reported (known at ${isoTime(recordedKnownAt)})`;
}

export function conflictingOutcomeMessage(transactionId: bigint, recorded: 'fraud' | 'legitimate', recordedKnownAt: number): string {
  return `transaction ${transactionId} was already reported ${recorded} (known at ${isoTime(recordedKnownAt)}); that report stays`;
}

function isoTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString();
}

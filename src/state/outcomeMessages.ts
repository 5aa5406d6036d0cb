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
  return `transaction ${transactionId} was already reported ${recorded} (known at ${isoTime(recordedKnownAt)}); that report stays (send supersedes to correct it)`;
}

export function correctedOutcomeMessage(transactionId: bigint, replaced: 'fraud' | 'legitimate', replacedKnownAt: number, knownAt: number): string {
  return `transaction ${transactionId} was ${replaced} (known at ${isoTime(replacedKnownAt)}); corrected from ${isoTime(knownAt)} on`;
}

export function outOfOrderCorrectionMessage(inForce: 'fraud' | 'legitimate', inForceKnownAt: number): string {
  return `the outcome in force, ${inForce}, became known at ${isoTime(inForceKnownAt)}, after this correction's known_at; nothing changed`;
}

export function tooManyCorrectionsMessage(transactionId: bigint, maxCorrections: number): string {
  return `transaction ${transactionId} was already corrected ${maxCorrections} times, the most it takes; nothing changed`;
}

function isoTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString();
}

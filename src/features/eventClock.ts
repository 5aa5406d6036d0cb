import type { TransactionFields } from './featureBuilder.js';

/**
 * The spec's clock rule: a transaction's event time is tx_datetime when the
 * request carries it, otherwise the spec's epoch + tx_time_seconds. Unix
 * seconds; tx_datetime keeps milliseconds as fractions.
 */
export function eventTimeSeconds(transaction: Pick<TransactionFields, 'txDatetime' | 'txTimeSeconds'>, epochSeconds: number): number {
  if (transaction.txDatetime !== undefined) return transaction.txDatetime.getTime() / 1000;
  return epochSeconds + Number(transaction.txTimeSeconds ?? 0n);
}

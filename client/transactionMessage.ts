import { Transaction } from '../src/gen/fraud/v1/fraud_service.js';
import type { TransactionInput } from './fraudClient.js';

/** The Transaction message of a transaction as callers write it. */
export function toTransaction(input: TransactionInput): Transaction {
  return Transaction.fromPartial({
    transactionId: BigInt(input.transactionId),
    customerId: BigInt(input.customerId),
    terminalId: BigInt(input.terminalId),
    txAmount: input.txAmount,
    txTimeSeconds: input.txTimeSeconds === undefined ? undefined : BigInt(input.txTimeSeconds),
    txTimeDays: input.txTimeDays === undefined ? undefined : BigInt(input.txTimeDays),
    txDatetime: input.txDatetime,
    features: input.features ?? {},
  });
}

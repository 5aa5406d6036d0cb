import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { FraudCallError, type TransactionInput } from '../../client/fraudClient.js';

export const DAY = 86_400;

/** A transaction of the simulator's clock: day `day`, `second` seconds into it. */
export function at(id: number, customerId: number, terminalId: number, day: number, second = 36_000, txAmount = 50): TransactionInput {
  return { transactionId: id, customerId, terminalId, txAmount, txTimeSeconds: day * DAY + second };
}

/** Awaits `call` and checks it failed with INVALID_ARGUMENT and a violation of `field` matching `description`. */
export async function expectInvalid(call: Promise<unknown>, field: string, description: RegExp): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof FraudCallError, String(error));
    assert.equal(error.code, status.INVALID_ARGUMENT, error.message);
    assert.ok(
      error.fieldViolations.some((violation) => violation.field === field && description.test(violation.description)),
      JSON.stringify(error.fieldViolations),
    );
    return true;
  });
}

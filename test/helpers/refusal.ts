import assert from 'node:assert/strict';
import { FraudCallError } from '../../client/fraudClient.js';

/** The error of a call the service must refuse; fails the test if the call succeeds or fails otherwise. */
export async function refusal(call: Promise<unknown>): Promise<FraudCallError> {
  const error = await call.then(
    () => assert.fail('the call succeeded'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof FraudCallError, String(error));
  return error;
}

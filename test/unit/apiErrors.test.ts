import { Metadata, status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { fieldViolationsOf } from '../../client/fraudClient.js';
import { CallCancelledError, InvalidArgumentError, ModelUnavailableError, toCallError } from '../../src/api/apiErrors.js';
import { createLogger } from '../../src/observability/logger.js';

function capture(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger('info', sink), lines };
}

describe('error mapping', () => {
  it('should turn field violations into INVALID_ARGUMENT with a google.rpc.BadRequest in the status details', () => {
    const { logger, lines } = capture();
    const violations = [
      { field: 'transaction.tx_amount', description: 'must be >= 0, got -1' },
      { field: 'transaction.customer_id', description: 'is required' },
    ];
    const error = toCallError(new InvalidArgumentError(violations), logger, 'Predict');
    assert.equal(error.code, status.INVALID_ARGUMENT);
    assert.equal(error.details, 'transaction.tx_amount: must be >= 0, got -1 (and 1 more)');
    assert.ok(error.metadata instanceof Metadata);
    assert.deepEqual(fieldViolationsOf(error.metadata), violations);
    assert.deepEqual(lines, [], 'a caller mistake is not a service error');
  });

  it('should answer UNAVAILABLE while a model is missing, and CANCELLED for a call that went away', () => {
    const { logger } = capture();
    assert.equal(toCallError(new ModelUnavailableError('the binary model is not loaded yet'), logger, 'Predict').code, status.UNAVAILABLE);
    assert.equal(toCallError(new CallCancelledError('gone'), logger, 'Predict').code, status.CANCELLED);
  });

  it('should give INTERNAL a generic message, never the error or its stack, and log the detail', () => {
    const { logger, lines } = capture();
    const bug = new TypeError("Cannot read properties of undefined (reading 'secretThing')");
    const error = toCallError(bug, logger, 'PredictBatch');
    assert.equal(error.code, status.INTERNAL);
    assert.equal(error.details, 'internal error; the service log has the details');
    assert.equal(error.metadata, undefined);
    assert.equal(lines.length, 1);
    const record = JSON.parse(lines[0] ?? '{}') as { level: string; method: string; err: { message: string; stack: string } };
    assert.equal(record.level, 'error');
    assert.equal(record.method, 'PredictBatch');
    assert.match(record.err.stack, /TypeError: Cannot read properties of undefined/);
  });
});

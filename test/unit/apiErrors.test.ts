import { Metadata, status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { fieldViolationsOf, retryDelayOf } from '../../client/fraudClient.js';
import { ErrorInfo } from '../../src/gen/google/rpc/error_details.js';
import { Status } from '../../src/gen/google/rpc/status.js';
import {
  ALREADY_RECORDED_REASON,
  AlreadyRecordedError,
  CallCancelledError,
  InvalidArgumentError,
  MAX_MESSAGE_CHARACTERS,
  MAX_VIOLATION_BYTES,
  MalformedRequestError,
  ModelUnavailableError,
  RowsRefusedError,
  toCallError,
} from '../../src/api/apiErrors.js';
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
  it('should answer a repeat with other recorded fields ALREADY_EXISTS, with the differing fields as violations and an ErrorInfo reason', () => {
    const { logger, lines } = capture();
    const violations = [{ field: 'transactions[1].tx_amount', description: 'transaction 7 is already recorded for this customer and terminal with tx_amount 10, not 9000' }];
    const error = toCallError(new AlreadyRecordedError(violations), logger, 'PredictBatch');
    assert.equal(error.code, status.ALREADY_EXISTS);
    assert.equal(error.details, `transactions[1].tx_amount: ${violations[0]?.description ?? ''}`);
    assert.deepEqual(fieldViolationsOf(error.metadata), violations);
    const details = Status.decode(error.metadata?.get('grpc-status-details-bin')[0] as Buffer).details;
    const info = details.find((detail) => detail.typeUrl === 'type.googleapis.com/google.rpc.ErrorInfo');
    assert.ok(info !== undefined);
    assert.equal(ErrorInfo.decode(info.value).reason, ALREADY_RECORDED_REASON);
    assert.deepEqual(lines, [], 'a caller mistake is not a service error');
  });

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

  it('should answer a busy service RESOURCE_EXHAUSTED with a google.rpc.RetryInfo and a grpc-retry-pushback-ms trailer holding the delay', () => {
    const { logger, lines } = capture();
    const error = toCallError(new RowsRefusedError('busy; retry after 250 ms', 1250), logger, 'PredictBatch');
    assert.equal(error.code, status.RESOURCE_EXHAUSTED);
    assert.equal(error.details, 'busy; retry after 250 ms');
    assert.equal(retryDelayOf(error.metadata), 1250);
    assert.deepEqual(error.metadata?.get('grpc-retry-pushback-ms'), ['1250']);
    assert.deepEqual(lines, []);
  });

  it('should cap what it echoes: the violations at MAX_VIOLATION_BYTES, with a count of those left out, and the message', () => {
    const { logger } = capture();
    const violations = Array.from({ length: 100 }, (_, index) => ({ field: `transactions[${index}].customer_id`, description: `is required ${'x'.repeat(100)}` }));
    const error = toCallError(new InvalidArgumentError(violations), logger, 'PredictBatch');
    const listed = fieldViolationsOf(error.metadata);
    const note = listed.pop();
    assert.ok(listed.length > 10 && listed.length < 100);
    assert.deepEqual(listed, violations.slice(0, listed.length));
    assert.ok(listed.reduce((sum, violation) => sum + violation.field.length + violation.description.length, 0) <= MAX_VIOLATION_BYTES);
    assert.deepEqual(note, { field: '', description: `${100 - listed.length} more violations not listed (the answer is capped at ${MAX_VIOLATION_BYTES} bytes)` });
    const long = toCallError(new InvalidArgumentError([{ field: 'transaction', description: 'y'.repeat(5000) }]), logger, 'Predict');
    assert.equal(long.details.length, MAX_MESSAGE_CHARACTERS + 1);
  });

  it('should log an undecodable request at debug, and answer it INVALID_ARGUMENT without a field when the whole request is bad', () => {
    const lines: string[] = [];
    const logger = createLogger('debug', new Writable({ write(chunk: Buffer, _encoding, done) { lines.push(chunk.toString('utf8')); done(); } }));
    const error = toCallError(new MalformedRequestError('fraud.v1.PredictRequest', [{ field: '', description: 'is not valid protobuf: truncated varint at byte 0' }]), logger, 'Predict');
    assert.equal(error.code, status.INVALID_ARGUMENT);
    assert.equal(error.details, 'is not valid protobuf: truncated varint at byte 0');
    const record = JSON.parse(lines[0] ?? '{}') as { level: string; msg: string; messageType: string };
    assert.deepEqual([record.level, record.msg, record.messageType], ['debug', 'undecodable request refused', 'fraud.v1.PredictRequest']);
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

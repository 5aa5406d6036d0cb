import { Metadata, status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FraudCallError, fieldViolationsOf } from '../../client/fraudClient.js';
import { MAX_ECHOED_CHARACTERS } from '../../src/api/echoed.js';
import { PredictRequest, Transaction } from '../../src/gen/fraud/v1/fraud_service.js';
import { packageRoot } from '../../src/packageRoot.js';
import { startTestService, transaction, type TestService } from '../helpers/testService.js';

const run = promisify(execFile);
const PYTHON = join(packageRoot, '.tools', 'venv', 'bin', 'python');
const C_CORE_CALL = join(packageRoot, 'test', 'helpers', 'ccore_call.py');

/** Predict with grpcio (C-core) in its own process; the status code name and the field violations it got. */
async function callWithCCore(address: string, request: Uint8Array): Promise<{ code: string; violations: { field: string; description: string }[] }> {
  const { stdout } = await run(PYTHON, [C_CORE_CALL, address, '/fraud.v1.FraudService/Predict', Buffer.from(request).toString('hex')], { timeout: 30_000 });
  const answer = JSON.parse(stdout) as { code: string; statusDetails: string };
  const metadata = new Metadata();
  if (answer.statusDetails !== '') metadata.set('grpc-status-details-bin', Buffer.from(answer.statusDetails, 'base64'));
  return { code: answer.code, violations: fieldViolationsOf(metadata) };
}

describe('client-supplied names in error details', () => {
  let running: TestService;

  before(async () => {
    if (!existsSync(PYTHON)) throw new Error(`grpcio is not installed in ${PYTHON}; install it with: bash scripts/install-tools.sh`);
    running = await startTestService();
  });

  after(async () => {
    await running.stop();
  });

  for (const size of [7 * 1024, 40 * 1024]) {
    const name = `feature_${'x'.repeat(size)}`;

    it(`should answer a ${size / 1024} KB unknown feature name with a usable BadRequest, to the typed client`, async () => {
      await assert.rejects(running.client.predict(transaction({ features: { [name]: 1 } }), { deadlineMs: 5_000 }), (error: unknown) => {
        assert.ok(error instanceof FraudCallError);
        assert.equal(error.code, status.INVALID_ARGUMENT, error.message);
        const field = error.fieldViolations[0]?.field ?? '';
        assert.match(field, /^transaction\.features\[feature_x+…\(\d+ more characters\)\]$/);
        assert.ok(field.length < MAX_ECHOED_CHARACTERS + 60, `${field.length} characters`);
        assert.match(error.fieldViolations[0]?.description ?? '', /is not a feature of model fraud-binary/);
        assert.ok(error.details.length <= 301);
        return true;
      });
    });

    it(`should answer a ${size / 1024} KB unknown feature name with a usable BadRequest, to a C-core client (grpcio)`, async () => {
      const request = PredictRequest.encode({ explain: false, transaction: Transaction.fromPartial({ transactionId: 1n, customerId: 1n, terminalId: 1n, txAmount: 10, txTimeSeconds: 3600n, features: { [name]: 1 } }) }).finish();
      const answer = await callWithCCore(running.address, request);
      assert.equal(answer.code, 'INVALID_ARGUMENT');
      assert.equal(answer.violations.length, 1);
      assert.match(answer.violations[0]?.field ?? '', /^transaction\.features\[feature_x+…\(\d+ more characters\)\]$/);
    });
  }
});

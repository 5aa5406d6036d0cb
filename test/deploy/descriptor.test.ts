import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/packageRoot.js';
import { CHART, only, renderChart } from './chart.js';
import { httpRules, messageTypes } from './descriptorSet.js';

const CHART_DESCRIPTOR = join(CHART, 'files', 'fraud.binpb');
const GENERATED_DESCRIPTOR = join(packageRoot, 'src', 'gen', 'fraud.binpb');
const SYNC_HINT = 'run scripts/sync-chart-descriptor.sh (after npm run generate) and commit the result';

describe('the descriptor set Envoy transcodes with (deploy/helm/fraud-scoring/files/fraud.binpb)', () => {
  let descriptor: Buffer;
  before(async () => {
    descriptor = await readFile(CHART_DESCRIPTOR);
  });

  it('should be byte-identical to src/gen/fraud.binpb', async () => {
    assert.ok(descriptor.equals(await readFile(GENERATED_DESCRIPTOR)), `the chart's descriptor differs from src/gen/fraud.binpb: ${SYNC_HINT}`);
  });

  it('should be byte-identical to a fresh `buf build` of proto/', async function () {
    this.timeout(60_000);
    const folder = await mkdtemp(join(tmpdir(), 'fraud-descriptor-'));
    try {
      const fresh = join(folder, 'fraud.binpb');
      await promisify(execFile)(join(packageRoot, 'node_modules', '.bin', 'buf'), ['build', '-o', fresh], { cwd: packageRoot });
      assert.ok(descriptor.equals(await readFile(fresh)), `the chart's descriptor is not what proto/ builds: run npm run generate, then ${SYNC_HINT}`);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('should reach Envoy unchanged through the ConfigMap binaryData', async () => {
    const configMap = only(await renderChart(), 'ConfigMap', '-descriptor');
    const encoded = configMap.binaryData?.['fraud.binpb'];
    assert.ok(encoded !== undefined, 'binaryData.fraud.binpb is missing');
    assert.ok(Buffer.from(encoded, 'base64').equals(descriptor));
  });

  it('should map POST /predict to Predict and POST /predict_scenario to PredictScenario, with the transaction as the body', () => {
    const rules = new Map(httpRules(descriptor).filter((entry) => entry.service === 'fraud.v1.FraudService').map((entry) => [entry.method, entry.rule]));
    assert.deepEqual(
      { post: rules.get('Predict')?.post, body: rules.get('Predict')?.body },
      { post: '/predict', body: 'transaction' },
    );
    assert.deepEqual(
      { post: rules.get('PredictScenario')?.post, body: rules.get('PredictScenario')?.body },
      { post: '/predict_scenario', body: 'transaction' },
    );
    assert.deepEqual(rules.get('Predict')?.additionalBindings.map((binding) => binding.post), ['/v1/predict']);
    assert.deepEqual(rules.get('PredictScenario')?.additionalBindings.map((binding) => binding.post), ['/v1/predict_scenario']);
  });

  it('should give every FraudService method a REST route but the stream (a JSON array in and out is what PredictBatch already is)', () => {
    const unmapped = httpRules(descriptor)
      .filter((entry) => entry.service === 'fraud.v1.FraudService' && entry.rule === undefined)
      .map((entry) => entry.method);
    assert.deepEqual(unmapped, ['PredictStream']);
  });

  it('should hold google.rpc.Status and google.rpc.BadRequest, which convert_grpc_status renders as JSON error details', () => {
    const types = messageTypes(descriptor);
    assert.ok(types.has('google.rpc.Status'));
    assert.ok(types.has('google.rpc.BadRequest'), 'google.rpc.BadRequest is missing: Envoy would drop the field violations from 400 answers');
    assert.ok(types.has('google.rpc.BadRequest.FieldViolation'));
  });
});

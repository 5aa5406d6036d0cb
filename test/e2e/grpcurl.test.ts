import assert from 'node:assert/strict';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { runTool } from '../helpers/tools.js';

const REST_BODY = { transaction_id: 1, customer_id: 42, terminal_id: 7, tx_amount: 250.0, tx_time_seconds: 3600, tx_time_days: 0 };

describe('grpcurl against the service, with no .proto at hand (reflection)', () => {
  let service: SpawnedService;
  before(async () => {
    service = await spawnService();
    await service.waitForLog('serving');
  });
  after(async () => {
    await service.kill();
  });

  it('should list the services', async () => {
    const result = await runTool('grpcurl', ['-plaintext', service.address, 'list']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split('\n'), ['fraud.v1.FraudService', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection']);
  });

  it('should describe the API with its comments and HTTP annotations', async () => {
    const result = await runTool('grpcurl', ['-plaintext', service.address, 'describe', 'fraud.v1.FraudService']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /rpc Predict \( \.fraud\.v1\.PredictRequest \) returns \( \.fraud\.v1\.PredictResponse \)/);
    assert.match(result.stdout, /post: "\/predict"/);
    assert.match(result.stdout, /FraudService scores card transactions/);
    const message = await runTool('grpcurl', ['-plaintext', service.address, 'describe', 'fraud.v1.Transaction']);
    assert.match(message.stdout, /optional double tx_amount = 4/);
    assert.match(message.stdout, /\.google\.protobuf\.Timestamp tx_datetime = 7/);
  });

  it('should answer Predict with label, probability and model version', async () => {
    const result = await runTool('grpcurl', ['-plaintext', '-d', JSON.stringify({ transaction: REST_BODY }), service.address, 'fraud.v1.FraudService/Predict']);
    assert.equal(result.code, 0, result.stderr);
    const answer = JSON.parse(result.stdout) as { prediction: string; classProbability: number; model: { name: string; version: string }; transactionId: string };
    assert.equal(answer.prediction, 'FRAUD');
    assert.ok(answer.classProbability > 0.5 && answer.classProbability <= 1);
    assert.equal(answer.model.name, 'fraud-binary');
    assert.ok(answer.model.version.length > 0);
    assert.equal(answer.transactionId, '1');
  });

  it('should answer PredictScenario with the scenario model', async () => {
    const result = await runTool('grpcurl', ['-plaintext', '-d', JSON.stringify({ transaction: REST_BODY }), service.address, 'fraud.v1.FraudService/PredictScenario']);
    assert.equal(result.code, 0, result.stderr);
    const answer = JSON.parse(result.stdout) as { prediction: string; model: { name: string } };
    // 250 at a new card is fraud; which scenario (1: over 220, 3: a compromised card) only the card's past can tell.
    assert.match(answer.prediction, /^scenario_[13]$/);
    assert.equal(answer.model.name, 'fraud-scenario');
  });

  it('should show InvalidArgument with the BadRequest field violations', async () => {
    const body = { transaction: { ...REST_BODY, tx_amount: 'NaN' } };
    const result = await runTool('grpcurl', ['-plaintext', '-d', JSON.stringify(body), service.address, 'fraud.v1.FraudService/Predict']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /Code: InvalidArgument/);
    assert.match(result.stderr, /"@type": "type.googleapis.com\/google.rpc.BadRequest"/);
    assert.match(result.stderr, /"field": "transaction.tx_amount"/);
  });

  it('should answer the health check', async () => {
    const result = await runTool('grpcurl', ['-plaintext', '-d', '{"service":"fraud.v1.FraudService"}', service.address, 'grpc.health.v1.Health/Check']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { status: 'SERVING' });
  });
});

import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { FileDescriptorProto } from '../../src/gen/google/protobuf/descriptor.js';
import {
  ServerReflectionClient,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from '../../src/gen/grpc/reflection/v1/reflection.js';
import { ServerReflectionClient as ServerReflectionV1AlphaClient } from '../../src/gen/grpc/reflection/v1alpha/reflection.js';
import { startTestService, type TestService } from '../helpers/testService.js';

type Stream = ClientDuplexStream<ServerReflectionRequest, ServerReflectionResponse>;

function ask(stream: Stream, request: Partial<ServerReflectionRequest>): Promise<ServerReflectionResponse> {
  return new Promise((resolveAsk) => {
    stream.once('data', resolveAsk);
    stream.write({ host: '', ...request });
  });
}

function files(response: ServerReflectionResponse): FileDescriptorProto[] {
  return (response.fileDescriptorResponse?.fileDescriptorProto ?? []).map((bytes) => FileDescriptorProto.decode(bytes));
}

describe('server reflection', () => {
  let running: TestService;
  let client: ServerReflectionClient;
  let stream: Stream;
  before(async () => {
    running = await startTestService();
    client = new ServerReflectionClient(running.address, credentials.createInsecure());
    stream = client.serverReflectionInfo();
  });
  after(async () => {
    stream.end();
    client.close();
    await running.stop();
  });

  it('should list the fraud, health and reflection services', async () => {
    const answer = await ask(stream, { listServices: '' });
    assert.deepEqual(answer.listServicesResponse?.service.map((service) => service.name).sort(), [
      'fraud.v1.FraudService',
      'grpc.health.v1.Health',
      'grpc.reflection.v1.ServerReflection',
      'grpc.reflection.v1alpha.ServerReflection',
    ]);
  });

  it('should return the file of a symbol with all its dependencies, as buf built them', async () => {
    const answer = files(await ask(stream, { fileContainingSymbol: 'fraud.v1.FraudService' }));
    const names = answer.map((file) => file.name);
    for (const name of ['fraud/v1/fraud_service.proto', 'google/protobuf/timestamp.proto', 'google/api/annotations.proto', 'google/api/http.proto', 'google/protobuf/descriptor.proto']) {
      assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
    }
    const fraud = answer.find((file) => file.name === 'fraud/v1/fraud_service.proto');
    assert.deepEqual(fraud?.service[0]?.method.map((method) => method.name), ['Predict', 'PredictScenario', 'PredictBatch', 'PredictScenarioBatch', 'PredictStream', 'GetModelInfo', 'GetModelQuality', 'ReportOutcome', 'ReportOutcomeBatch']);
    assert.match(fraud.sourceCodeInfo?.location.map((location) => location.leadingComments ?? '').join('') ?? '', /FraudService scores card transactions/);
    assert.equal(fraud.messageType.find((message) => message.name === 'Transaction')?.field.find((field) => field.name === 'tx_amount')?.proto3Optional, true);
  });

  it('should find methods, nested types and files by name', async () => {
    for (const symbol of [
      'fraud.v1.FraudService.Predict',
      'fraud.v1.Transaction.FeaturesEntry',
      'fraud.v1.Transaction.tx_amount',
      'fraud.v1.ModelTask',
      'fraud.v1.MODEL_TASK_BINARY',
      '.fraud.v1.ModelRef',
    ]) {
      const answer = await ask(stream, { fileContainingSymbol: symbol });
      assert.equal(files(answer)[0]?.name, 'fraud/v1/fraud_service.proto', symbol);
    }
    const timestamp = await ask(stream, { fileByFilename: 'google/protobuf/timestamp.proto' });
    assert.equal(files(timestamp)[0]?.messageType[0]?.name, 'Timestamp');
  });

  it('should know the google.api.http extension of MethodOptions', async () => {
    const numbers = await ask(stream, { allExtensionNumbersOfType: 'google.protobuf.MethodOptions' });
    assert.ok(numbers.allExtensionNumbersResponse?.extensionNumber.includes(72295728));
    const file = await ask(stream, { fileContainingExtension: { containingType: 'google.protobuf.MethodOptions', extensionNumber: 72295728 } });
    assert.equal(files(file)[0]?.name, 'google/api/annotations.proto');
  });

  it('should answer NOT_FOUND for an unknown symbol or file', async () => {
    const symbol = await ask(stream, { fileContainingSymbol: 'no.such.Thing' });
    assert.deepEqual(symbol.errorResponse, { errorCode: 5, errorMessage: 'symbol no.such.Thing not found' });
    const file = await ask(stream, { fileByFilename: 'nope.proto' });
    assert.equal(file.errorResponse?.errorCode, 5);
  });

  it('should answer the v1alpha protocol of older tools the same way', async () => {
    const alpha = new ServerReflectionV1AlphaClient(running.address, credentials.createInsecure());
    const alphaStream = alpha.serverReflectionInfo();
    try {
      const answer = await new Promise<{ listServicesResponse?: { service: { name: string }[] } }>((resolveAsk) => {
        alphaStream.once('data', resolveAsk);
        alphaStream.write({ host: '', listServices: '' });
      });
      assert.ok(answer.listServicesResponse?.service.some((service) => service.name === 'fraud.v1.FraudService'));
    } finally {
      alphaStream.end();
      alpha.close();
    }
  });
});

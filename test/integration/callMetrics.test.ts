import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { connect, type IncomingHttpHeaders } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { PredictBatchRequest, PredictRequest, Transaction } from '../../src/gen/fraud/v1/fraud_service.js';
import { HealthClient } from '../../src/gen/grpc/health/v1/health.js';
import { ServerReflectionClient } from '../../src/gen/grpc/reflection/v1/reflection.js';
import { callRaw } from '../helpers/rawBytes.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, transaction, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const BATCH = PredictBatchRequest.encode({
  explain: false,
  transactions: Array.from({ length: 10_000 }, (_, index) =>
    Transaction.fromPartial({ transactionId: BigInt(index), customerId: 1n, terminalId: 1n, txAmount: index % 300, txTimeSeconds: 3600n, features: {} }),
  ),
}).finish();

// An id outside BATCH's: the same id with another amount would be refused ALREADY_EXISTS once a batch was recorded.
const PREDICT = PredictRequest.encode({
  explain: false,
  transaction: Transaction.fromPartial({ transactionId: 1_000_000n, customerId: 1n, terminalId: 1n, txAmount: 10, txTimeSeconds: 3600n, features: {} }),
}).finish();

function count(text: string, method: string, code: string): number {
  return sample(text, `fraud_grpc_requests_total{method="${method}",code="${code}"}`) ?? 0;
}

/** Opens a PredictBatch whose answer is never read, then resets it once the service has answered (so the service did the work). */
async function cancelAfterAnswer(address: string): Promise<void> {
  const session = connect(`http://${address}`);
  session.on('error', () => undefined);
  try {
    const frame = framed(BATCH);
    const stream = session.request({ ':method': 'POST', ':path': '/fraud.v1.FraudService/PredictBatch', 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => undefined);
    stream.pause();
    stream.end(frame);
    await new Promise((resolveAnswer) => stream.once('response', resolveAnswer));
    const closed = new Promise((resolveClose) => stream.once('close', resolveClose));
    stream.close(0x8); // RST_STREAM CANCEL, what a client sends when it gives up on a call
    await closed;
  } finally {
    session.destroy();
  }
}

/** A PredictBatch sent with a grpc-timeout far shorter than scoring it takes; resolves with the grpc-status the client got. */
async function statusWithTimeout(address: string, timeout: string): Promise<string> {
  const session = connect(`http://${address}`);
  session.on('error', () => undefined);
  try {
    const stream = session.request({ ':method': 'POST', ':path': '/fraud.v1.FraudService/PredictBatch', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': timeout });
    stream.on('error', () => undefined);
    let code = '';
    const statusOf = (headers: IncomingHttpHeaders): void => {
      code ||= String(headers['grpc-status'] ?? '');
    };
    stream.on('response', statusOf);
    stream.on('trailers', statusOf);
    stream.resume();
    stream.end(framed(BATCH));
    await new Promise((resolveClose) => stream.once('close', resolveClose));
    return code;
  } finally {
    session.destroy();
  }
}

/**
 * A Predict with a 100 ms grpc-timeout that reaches a service busy for 150 ms
 * (this process's event loop, which runs the service, is held that long) and
 * whose client has given up by then: the service reads the call and its
 * reset together, long before the deadline it computes from the header.
 */
async function expiredWhileBusy(address: string): Promise<void> {
  const session = connect(`http://${address}`);
  session.on('error', () => undefined);
  try {
    await new Promise((resolveSettings) => session.once('remoteSettings', resolveSettings));
    const stream = session.request({ ':method': 'POST', ':path': '/fraud.v1.FraudService/Predict', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '100m' });
    stream.on('error', () => undefined);
    stream.end(framed(PREDICT));
    const busyUntil = performance.now() + 150;
    while (performance.now() < busyUntil) {
      // The service's work, holding the event loop: nothing is read or sent meanwhile.
    }
    const closed = new Promise((resolveClose) => stream.once('close', resolveClose));
    stream.close(0x8);
    await closed;
  } finally {
    session.destroy();
  }
}

/** Sends the headers and half of a PredictBatch, then resets the call (RST_STREAM CANCEL). */
async function resetWhileSending(address: string): Promise<void> {
  const session = connect(`http://${address}`);
  session.on('error', () => undefined);
  try {
    const stream = session.request({ ':method': 'POST', ':path': '/fraud.v1.FraudService/PredictBatch', 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => undefined);
    const frame = framed(BATCH);
    await new Promise<void>((resolveWrite) => {
      stream.write(frame.subarray(0, frame.length / 2), () => {
        resolveWrite();
      });
    });
    const closed = new Promise((resolveClose) => stream.once('close', resolveClose));
    stream.close(0x8);
    await closed;
  } finally {
    session.destroy();
  }
}

function framed(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

describe('call metrics count what clients saw', () => {
  let running: TestService;

  before(async () => {
    running = await startTestService();
  });

  after(async () => {
    await running.stop();
  });

  it('should count a call its client cancelled as CANCELLED, not OK', async () => {
    const before = await scrape(running.service.metricsPort);
    await cancelAfterAnswer(running.address);
    const after = await waitFor('the cancelled call counted', async () => {
      const text = await scrape(running.service.metricsPort);
      return count(text, 'fraud.v1.FraudService/PredictBatch', 'CANCELLED') > count(before, 'fraud.v1.FraudService/PredictBatch', 'CANCELLED') ? text : undefined;
    });
    assert.equal(count(after, 'fraud.v1.FraudService/PredictBatch', 'CANCELLED'), count(before, 'fraud.v1.FraudService/PredictBatch', 'CANCELLED') + 1);
    assert.equal(count(after, 'fraud.v1.FraudService/PredictBatch', 'OK'), count(before, 'fraud.v1.FraudService/PredictBatch', 'OK'));
  });

  it('should count calls that ran past their deadline as DEADLINE_EXCEEDED, as many as the client got', async () => {
    const before = await scrape(running.service.metricsPort);
    const codes: string[] = [];
    for (let index = 0; index < 3; index++) codes.push(await statusWithTimeout(running.address, '1m'));
    assert.deepEqual(codes, ['4', '4', '4'], 'the client got DEADLINE_EXCEEDED each time');
    const after = await waitFor('every expired call counted', async () => {
      const text = await scrape(running.service.metricsPort);
      return count(text, 'fraud.v1.FraudService/PredictBatch', 'DEADLINE_EXCEEDED') - count(before, 'fraud.v1.FraudService/PredictBatch', 'DEADLINE_EXCEEDED') >= 3 ? text : undefined;
    });
    assert.equal(count(after, 'fraud.v1.FraudService/PredictBatch', 'DEADLINE_EXCEEDED') - count(before, 'fraud.v1.FraudService/PredictBatch', 'DEADLINE_EXCEEDED'), 3);
    assert.equal(count(after, 'fraud.v1.FraudService/PredictBatch', 'OK'), count(before, 'fraud.v1.FraudService/PredictBatch', 'OK'));
  });

  it('should count a call whose client gave up at its deadline while the service was busy as DEADLINE_EXCEEDED, not CANCELLED', async () => {
    const before = await scrape(running.service.metricsPort);
    await expiredWhileBusy(running.address);
    const after = await waitFor('the expired call counted', async () => {
      const text = await scrape(running.service.metricsPort);
      return sample(text, 'fraud_grpc_requests_in_flight') === 0 && count(text, 'fraud.v1.FraudService/Predict', 'DEADLINE_EXCEEDED') + count(text, 'fraud.v1.FraudService/Predict', 'CANCELLED') > count(before, 'fraud.v1.FraudService/Predict', 'DEADLINE_EXCEEDED') + count(before, 'fraud.v1.FraudService/Predict', 'CANCELLED') ? text : undefined;
    });
    assert.equal(count(after, 'fraud.v1.FraudService/Predict', 'DEADLINE_EXCEEDED'), count(before, 'fraud.v1.FraudService/Predict', 'DEADLINE_EXCEEDED') + 1);
    assert.equal(count(after, 'fraud.v1.FraudService/Predict', 'CANCELLED'), count(before, 'fraud.v1.FraudService/Predict', 'CANCELLED'));
    assert.equal(count(after, 'fraud.v1.FraudService/Predict', 'OK'), count(before, 'fraud.v1.FraudService/Predict', 'OK'));
  });

  it('should count a call its client reset while sending the request as CANCELLED', async () => {
    const before = await scrape(running.service.metricsPort);
    await resetWhileSending(running.address);
    const after = await waitFor('the reset call counted', async () => {
      const text = await scrape(running.service.metricsPort);
      return count(text, 'fraud.v1.FraudService/PredictBatch', 'CANCELLED') > count(before, 'fraud.v1.FraudService/PredictBatch', 'CANCELLED') ? text : undefined;
    });
    assert.equal(count(after, 'fraud.v1.FraudService/PredictBatch', 'CANCELLED'), count(before, 'fraud.v1.FraudService/PredictBatch', 'CANCELLED') + 1);
    assert.equal(count(after, 'fraud.v1.FraudService/PredictBatch', 'UNIMPLEMENTED'), count(before, 'fraud.v1.FraudService/PredictBatch', 'UNIMPLEMENTED'));
    assert.equal(count(after, 'fraud.v1.FraudService/PredictBatch', 'RESOURCE_EXHAUSTED'), count(before, 'fraud.v1.FraudService/PredictBatch', 'RESOURCE_EXHAUSTED'));
  });

  it('should count a request over the size limit, refused by grpc-js before any handler, as RESOURCE_EXHAUSTED', async () => {
    const before = await scrape(running.service.metricsPort);
    const outcome = await callRaw(running.address, '/fraud.v1.FraudService/PredictBatch', Buffer.alloc(4 * 1024 * 1024 + 1));
    assert.equal(outcome.code, status.RESOURCE_EXHAUSTED);
    assert.match(outcome.details, /larger than max/);
    const after = await scrape(running.service.metricsPort);
    assert.equal(count(after, 'fraud.v1.FraudService/PredictBatch', 'RESOURCE_EXHAUSTED'), count(before, 'fraud.v1.FraudService/PredictBatch', 'RESOURCE_EXHAUSTED') + 1);
  });

  it('should count undecodable requests as INVALID_ARGUMENT', async () => {
    const before = await scrape(running.service.metricsPort);
    assert.equal((await callRaw(running.address, '/fraud.v1.FraudService/Predict', Uint8Array.from([0x80]))).code, status.INVALID_ARGUMENT);
    const after = await scrape(running.service.metricsPort);
    assert.equal(count(after, 'fraud.v1.FraudService/Predict', 'INVALID_ARGUMENT'), count(before, 'fraud.v1.FraudService/Predict', 'INVALID_ARGUMENT') + 1);
    assert.equal(count(after, 'fraud.v1.FraudService/Predict', 'INTERNAL'), 0);
  });

  it('should count calls to methods the server does not have as UNIMPLEMENTED under one label', async () => {
    const client = new Client(running.address, credentials.createInsecure());
    const call = (path: string): Promise<number> =>
      new Promise((resolveCall) => {
        client.makeUnaryRequest(path, (bytes: Buffer) => bytes, (bytes: Buffer) => bytes, Buffer.alloc(0), new Metadata(), (error: ServiceError | null) => {
          resolveCall(error?.code ?? status.OK);
        });
      });
    try {
      const before = await scrape(running.service.metricsPort);
      const paths = ['/fraud.v1.FraudService/Refund', '/no.such.Service/Call', `/random/${'x'.repeat(200)}`];
      for (const path of paths) assert.equal(await call(path), status.UNIMPLEMENTED);
      const after = await scrape(running.service.metricsPort);
      assert.equal(count(after, 'other', 'UNIMPLEMENTED'), count(before, 'other', 'UNIMPLEMENTED') + paths.length);
      assert.doesNotMatch(after, /Refund|no\.such|xxxx/, 'no label value comes from the caller');
    } finally {
      client.close();
    }
  });

  it('should count health checks and the fraud calls by method, and leave nothing in flight', async () => {
    await running.client.checkHealth();
    await running.client.predict(transaction());
    const text = await scrape(running.service.metricsPort);
    assert.ok(count(text, 'grpc.health.v1.Health/Check', 'OK') >= 1);
    assert.ok(count(text, 'fraud.v1.FraudService/Predict', 'OK') >= 1);
    assert.equal(sample(text, 'fraud_grpc_requests_in_flight'), 0);
  });

  it('should label streams by their full method names too, and time them in the latency histogram when they end', async () => {
    const watches = 'fraud_grpc_request_duration_seconds_count{method="grpc.health.v1.Health/Watch"}';
    const reflections = 'fraud_grpc_request_duration_seconds_count{method="grpc.reflection.v1.ServerReflection/ServerReflectionInfo"}';
    const before = await scrape(running.service.metricsPort);
    const health = new HealthClient(running.address, credentials.createInsecure());
    const reflection = new ServerReflectionClient(running.address, credentials.createInsecure());
    try {
      const watch = health.watch({ service: '' });
      watch.on('error', () => undefined);
      await new Promise((resolveFirst) => watch.once('data', resolveFirst));
      watch.cancel();
      const info = reflection.serverReflectionInfo();
      await new Promise((resolveAnswer) => {
        info.once('data', resolveAnswer);
        info.write({ host: '', listServices: '' });
      });
      info.end();
      await new Promise((resolveEnd) => info.on('data', () => undefined).once('end', resolveEnd));
      const after = await waitFor('both streams counted', async () => {
        const text = await scrape(running.service.metricsPort);
        return (sample(text, watches) ?? 0) > (sample(before, watches) ?? 0) && (sample(text, reflections) ?? 0) > (sample(before, reflections) ?? 0) ? text : undefined;
      });
      assert.equal(sample(after, watches), (sample(before, watches) ?? 0) + 1);
      assert.equal(sample(after, reflections), (sample(before, reflections) ?? 0) + 1);
      assert.equal(count(after, 'grpc.health.v1.Health/Watch', 'CANCELLED'), count(before, 'grpc.health.v1.Health/Watch', 'CANCELLED') + 1);
      assert.equal(count(after, 'grpc.reflection.v1.ServerReflection/ServerReflectionInfo', 'OK'), count(before, 'grpc.reflection.v1.ServerReflection/ServerReflectionInfo', 'OK') + 1);
      // One convention for every call: no short names left.
      const methods = new Set([...after.matchAll(/^fraud_grpc_requests_total\{method="([^"]+)"/gm)].map((match) => match[1]));
      for (const method of methods) assert.match(method ?? '', /^([a-z0-9]+\.)+[A-Za-z0-9]+\/[A-Za-z0-9]+$|^other$/, `method label ${String(method)}`);
    } finally {
      health.close();
      reflection.close();
    }
  });
});

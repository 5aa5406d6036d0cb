import assert from 'node:assert/strict';
import { connect as connectTcp } from 'node:net';
import { PredictRequest, Transaction } from '../../src/gen/fraud/v1/fraud_service.js';
import { fixture } from '../helpers/paths.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4 } as const;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const CANCEL = 0x8;

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** HPACK "literal header field without indexing, new name" (RFC 7541 6.2.2); every string here is under 127 bytes. */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name, 'latin1'), Buffer.from([value.length]), Buffer.from(value, 'latin1')]);
}

/**
 * The bytes of one HTTP/2 connection that opens a Predict call, sends its
 * whole request and then resets it (RST_STREAM CANCEL), all in one TCP write:
 * the service reads the cancellation in the same chunk as the request, before
 * its handler has scored anything.
 */
function predictThenCancel(authority: string, transaction: Transaction): Buffer {
  const message = PredictRequest.encode({ transaction, explain: false }).finish();
  const grpcMessage = Buffer.alloc(5 + message.length);
  grpcMessage.writeUInt32BE(message.length, 1);
  grpcMessage.set(message, 5);
  const headers = Buffer.concat([
    literal(':method', 'POST'),
    literal(':scheme', 'http'),
    literal(':path', '/fraud.v1.FraudService/Predict'),
    literal(':authority', authority),
    literal('content-type', 'application/grpc'),
    literal('te', 'trailers'),
  ]);
  const cancel = Buffer.alloc(4);
  cancel.writeUInt32BE(CANCEL);
  return Buffer.concat([
    PREFACE,
    frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(0)),
    frame(FRAME.HEADERS, END_HEADERS, 1, headers),
    frame(FRAME.DATA, END_STREAM, 1, grpcMessage),
    frame(FRAME.RST_STREAM, 0, 1, cancel),
  ]);
}

function cancelledPredicts(text: string): number {
  return sample(text, 'fraud_grpc_requests_total{method="fraud.v1.FraudService/Predict",code="CANCELLED"}') ?? 0;
}

/** Transactions the binary model has scored, over every class. */
function binaryPredictions(text: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith('fraud_predictions_total{task="binary"'))
    .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('a call its client cancelled before it was scored (embedded store, over a real socket)', () => {
  let running: TestService;

  before(async () => {
    // A model that reads the customer's history, so a recorded transaction shows in the next one's features.
    running = await startTestService({ FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32') });
  });

  after(async () => {
    await running.stop();
  });

  it('should neither score nor record it: the next transaction of the card sees an empty history', async () => {
    const customerId = 7_700_001;
    const terminalId = 7_800_001;
    const metricsBefore = await scrape(running.service.metricsPort);
    const before = cancelledPredicts(metricsBefore);
    const scoredBefore = binaryPredictions(metricsBefore);
    const socket = connectTcp(running.service.grpcPort, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.resume();
    try {
      await new Promise<void>((connected) => socket.once('connect', connected));
      const cancelled = Transaction.fromPartial({ transactionId: 1n, customerId: BigInt(customerId), terminalId: BigInt(terminalId), txAmount: 50, txTimeSeconds: 36_000n });
      socket.write(predictThenCancel(running.address, cancelled));
      // The service counts the call once grpc-js reports its end: it has seen the reset by then.
      await waitFor('the cancelled call counted', async () => cancelledPredicts(await scrape(running.service.metricsPort)) > before);
    } finally {
      socket.destroy();
    }
    assert.equal(binaryPredictions(await scrape(running.service.metricsPort)), scoredBefore, 'the cancelled transaction was scored');
    const next = await running.client.predict({ transactionId: 2, customerId, terminalId, txAmount: 50, txTimeSeconds: 37_000 }, { explain: true });
    assert.equal(next.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 1, 'the cancelled transaction was recorded in the history');
  });
});

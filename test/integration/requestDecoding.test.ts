import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { PredictResponse, Transaction } from '../../src/gen/fraud/v1/fraud_service.js';
import { callRaw, wire } from '../helpers/rawBytes.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, type TestService } from '../helpers/testService.js';

const PREDICT = '/fraud.v1.FraudService/Predict';
const PREDICT_BATCH = '/fraud.v1.FraudService/PredictBatch';

/** The fields of a valid transaction, on the wire (fields 1 to 5 of fraud.v1.Transaction). */
const IDS = idsOf(42);
/** The ids of transaction 1 at terminal 7 by `customer`. */
function idsOf(customer: number): number[] {
  return [...wire.varintField(1, 1), ...wire.varintField(2, customer), ...wire.varintField(3, 7)];
}
const AMOUNT = wire.doubleField(4, 250);
const TIME = wire.varintField(5, 3600);

/** PredictRequest { transaction: <bytes> }. */
function predictRequest(...transactions: number[][]): number[] {
  return transactions.flatMap((transaction) => wire.bytesField(1, transaction));
}

/** The same, asking for the feature values the model saw (PredictRequest.explain, field 2). */
function explainedRequest(...transactions: number[][]): number[] {
  return [...predictRequest(...transactions), ...wire.varintField(2, 1)];
}

function timestamp(seconds: number | bigint, nanos?: number): number[] {
  return [...wire.varintField(1, seconds), ...(nanos === undefined ? [] : wire.varintField(2, nanos))];
}

describe('request decoding: malformed bodies, merges and well-known types', () => {
  let running: TestService;

  before(async () => {
    running = await startTestService();
  });

  after(async () => {
    await running.stop();
  });

  const malformed: [string, number[], string, RegExp][] = [
    ['a lone 0x80 (a varint that never ends)', [0x80], '', /is not valid protobuf: truncated varint at byte 0/],
    ['a truncated varint inside the transaction', predictRequest([0x08, 0xff, 0xff]), 'transaction', /is not valid protobuf: truncated varint at byte 1/],
    ['a length past the end of the message', [0x0a, 0x10, 0x08, 0x01], '', /length 16 runs past the end of the message/],
    // Field 15: PredictRequest has no such field, so no field is named.
    ['wire type 7, which does not exist', [(15 << 3) | 7], '', /invalid wire type 7/],
    ['field number 0', [0x00, 0x01], '', /field number 0/],
    ['an end-group with no start-group', [(15 << 3) | 4], '', /end-group without a start-group/],
    ['a known field with wire type 7', [0x0f], 'transaction', /has wire type 7; the field needs length-delimited/],
    ['tx_amount sent as a varint', predictRequest([...IDS, ...wire.varintField(4, 250), ...TIME]), 'transaction.tx_amount', /has wire type varint; the field needs 64-bit/],
    ['transaction sent as a varint', wire.varintField(1, 5), 'transaction', /has wire type varint; the field needs length-delimited/],
    ['a feature name that is not UTF-8', predictRequest([...IDS, ...AMOUNT, ...TIME, ...wire.bytesField(8, [...wire.bytesField(1, [0xc3, 0x28]), ...wire.doubleField(2, 1)])]), 'transaction.features.key', /is not valid UTF-8/],
  ];
  for (const [what, body, field, description] of malformed) {
    it(`should answer INVALID_ARGUMENT, naming the field, for ${what}`, async () => {
      const outcome = await callRaw(running.address, PREDICT, Uint8Array.from(body));
      assert.equal(outcome.code, status.INVALID_ARGUMENT, `${status[outcome.code]}: ${outcome.details}`);
      assert.equal(outcome.violations.length, 1, JSON.stringify(outcome.violations));
      const [violation] = outcome.violations;
      assert.ok(violation !== undefined);
      assert.equal(violation.field, field);
      assert.match(violation.description, description);
    });
  }

  /**
   * A transaction whose field `field` claims 20 bytes where 2 are left in the
   * transaction; the request goes on after it (an unknown field 15), so the
   * length does not run past the request: only past its own message, whose
   * following bytes it would otherwise read as its own.
   */
  function overrunning(field: number): number[] {
    return [...IDS, ...AMOUNT, ...wire.tag(field, 2), ...wire.varint(20), 0x08, 0x01];
  }
  const AFTER = wire.bytesField(15, new Array<number>(40).fill(0));
  const VALID = [...IDS, ...AMOUNT, ...TIME];
  const nested: [string, string, number[], string, RegExp][] = [
    ['a tx_datetime', PREDICT, [...predictRequest(overrunning(7)), ...AFTER], 'transaction', /is not valid protobuf: length 20 runs past the end of the message at byte 16$/],
    ['a features entry', PREDICT, [...predictRequest(overrunning(8)), ...AFTER], 'transaction', /is not valid protobuf: length 20 runs past the end of the message at byte 16$/],
    [
      'a feature name, past its map entry',
      PREDICT,
      [...predictRequest([...VALID, ...wire.bytesField(8, [...wire.tag(1, 2), ...wire.varint(12), 0x61, 0x62, ...wire.doubleField(2, 1)])]), ...AFTER],
      'transaction.features',
      /is not valid protobuf: length 12 runs past the end of the message at byte 1$/,
    ],
    ["a batch item's tx_datetime", PREDICT_BATCH, [...wire.bytesField(1, VALID), ...wire.bytesField(1, overrunning(7)), ...AFTER], 'transactions[1]', /length 20 runs past the end of the message at byte 16$/],
  ];
  for (const [what, path, body, field, description] of nested) {
    it(`should answer INVALID_ARGUMENT, naming the message, for the length of ${what} running past that message`, async () => {
      const outcome = await callRaw(running.address, path, Uint8Array.from(body));
      assert.equal(outcome.code, status.INVALID_ARGUMENT, `${status[outcome.code]}: ${outcome.details}`);
      assert.deepEqual(
        outcome.violations.map((violation) => [violation.field, description.test(violation.description)]),
        [[field, true]],
        JSON.stringify(outcome.violations),
      );
    });
  }

  it('should log an undecodable request at debug and count it, by method', async () => {
    const before = sample(await scrape(running.service.metricsPort), 'fraud_grpc_undecodable_requests_total{method="fraud.v1.FraudService/PredictBatch"}') ?? 0;
    const outcome = await callRaw(running.address, PREDICT_BATCH, Uint8Array.from([0x0a, 0x05, 0x08]));
    assert.equal(outcome.code, status.INVALID_ARGUMENT);
    const text = await scrape(running.service.metricsPort);
    assert.equal(sample(text, 'fraud_grpc_undecodable_requests_total{method="fraud.v1.FraudService/PredictBatch"}'), before + 1);
    const record = running.logs.find((line) => line.msg === 'undecodable request refused' && line.method === 'fraud.v1.FraudService/PredictBatch');
    assert.equal(record?.level, 'debug');
    assert.equal(record.messageType, 'fraud.v1.PredictBatchRequest');
  });

  it('should merge a transaction sent twice, as protobuf merges a message field, instead of keeping the last one', async () => {
    // The first occurrence holds the ids, the second the amount and time: neither is valid alone.
    const merged = await callRaw(running.address, PREDICT, Uint8Array.from(predictRequest(IDS, [...AMOUNT, ...TIME])));
    assert.equal(merged.code, status.OK, `${status[merged.code]}: ${merged.details}`);
    const whole = await callRaw(running.address, PREDICT, Uint8Array.from(predictRequest([...IDS, ...AMOUNT, ...TIME])));
    assert.deepEqual(PredictResponse.decode(merged.answer ?? Buffer.alloc(0)), PredictResponse.decode(whole.answer ?? Buffer.alloc(0)));
  });

  it('should let a later occurrence win for a scalar it sets again, within the merge', async () => {
    const merged = await callRaw(running.address, PREDICT, Uint8Array.from(predictRequest([...IDS, ...wire.doubleField(4, 10), ...TIME], AMOUNT)));
    const answer = PredictResponse.decode(merged.answer ?? Buffer.alloc(0));
    assert.equal(answer.prediction, 'FRAUD', 'the amount of the second occurrence (250) was scored, not 10');
  });

  it('should merge a tx_datetime sent in pieces, inside a merged transaction, and inside each batch item', async () => {
    // 2026-11-28 (a Saturday) 12:00 UTC: weekend, not night. Last-wins would keep only {nanos: 5}, 1970-01-01T00:00
    // (a Thursday night): the time features the model sees (explain) tell the two readings apart.
    const saturdayNoon = 1_795_867_200;
    const pieces = [...wire.bytesField(7, timestamp(saturdayNoon)), ...wire.bytesField(7, wire.varintField(2, 5))];
    const whole = wire.bytesField(7, timestamp(saturdayNoon, 5));
    const amount = wire.doubleField(4, 10);
    const features = async (body: number[]): Promise<Record<string, number>> => {
      const outcome = await callRaw(running.address, PREDICT, Uint8Array.from(body));
      assert.equal(outcome.code, status.OK, outcome.details);
      const { features: seen } = PredictResponse.decode(outcome.answer ?? Buffer.alloc(0));
      return { TX_DURING_WEEKEND: seen.TX_DURING_WEEKEND ?? Number.NaN, TX_DURING_NIGHT: seen.TX_DURING_NIGHT ?? Number.NaN };
    };
    const ids = idsOf(4201);
    assert.deepEqual(await features(explainedRequest([...ids, ...amount, ...whole])), { TX_DURING_WEEKEND: 1, TX_DURING_NIGHT: 0 });
    assert.deepEqual(await features(explainedRequest([...ids, ...amount, ...pieces])), { TX_DURING_WEEKEND: 1, TX_DURING_NIGHT: 0 }, 'pieces merged');
    assert.deepEqual(
      await features(explainedRequest([...ids, ...amount, ...wire.bytesField(7, timestamp(saturdayNoon))], wire.bytesField(7, wire.varintField(2, 5)))),
      { TX_DURING_WEEKEND: 1, TX_DURING_NIGHT: 0 },
      'merged across two occurrences of the transaction',
    );

    const batch = await callRaw(running.address, PREDICT_BATCH, Uint8Array.from([...wire.bytesField(1, [...ids, ...amount, ...pieces]), ...wire.bytesField(1, [...ids, ...amount, ...whole])]));
    assert.equal(batch.code, status.OK, batch.details);
  });

  const badTimes: [string, number[], string, RegExp][] = [
    ['after 9999-12-31', timestamp(253_402_300_800), 'transaction.tx_datetime', /must be from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z .*got seconds 253402300800/],
    ['before year 1', timestamp(-62_135_596_801), 'transaction.tx_datetime', /got seconds -62135596801/],
    ['with negative nanos', timestamp(1_700_000_000, -1), 'transaction.tx_datetime.nanos', /must be from 0 to 999999999, got -1/],
    ['with nanos of a whole second', timestamp(1_700_000_000, 1_000_000_000), 'transaction.tx_datetime.nanos', /got 1000000000/],
  ];
  for (const [what, time, field, description] of badTimes) {
    it(`should refuse a tx_datetime ${what}`, async () => {
      const outcome = await callRaw(running.address, PREDICT, Uint8Array.from(predictRequest([...IDS, ...AMOUNT, ...wire.bytesField(7, time)])));
      assert.equal(outcome.code, status.INVALID_ARGUMENT);
      const [violation] = outcome.violations;
      assert.ok(violation !== undefined);
      assert.equal(violation.field, field);
      assert.match(violation.description, description);
    });
  }

  it('should name the batch item whose tx_datetime is out of range', async () => {
    const good = wire.bytesField(1, [...IDS, ...AMOUNT, ...TIME]);
    const bad = wire.bytesField(1, [...IDS, ...AMOUNT, ...wire.bytesField(7, timestamp(1, 2_000_000_000))]);
    const outcome = await callRaw(running.address, PREDICT_BATCH, Uint8Array.from([...good, ...good, ...bad]));
    assert.equal(outcome.violations[0]?.field, 'transactions[2].tx_datetime.nanos');
  });

  it('should accept the first instant a Timestamp can hold, and leave the last one to the future bound', async () => {
    // A card's first transaction is never late, so year 1 is scored; 9999-12-31 passes the range check and is
    // refused only by FRAUD_STATE_MAX_FUTURE_SECONDS, the one violation.
    const first = await callRaw(running.address, PREDICT, Uint8Array.from(predictRequest([...idsOf(4202), ...AMOUNT, ...wire.bytesField(7, timestamp(-62_135_596_800))])));
    assert.equal(first.code, status.OK, first.details);
    const last = await callRaw(running.address, PREDICT, Uint8Array.from(predictRequest([...idsOf(4203), ...AMOUNT, ...wire.bytesField(7, timestamp(253_402_300_799, 999_999_999))])));
    assert.equal(last.code, status.INVALID_ARGUMENT);
    assert.equal(last.violations.length, 1, JSON.stringify(last.violations));
    assert.match(last.violations[0]?.description ?? '', /ahead of the service's clock \(FRAUD_STATE_MAX_FUTURE_SECONDS\)$/);
  });

  it('should refuse tx_time_seconds past 9999-12-31T23:59:59Z, and leave the last second to the future bound', async () => {
    const last = 253_402_300_799n - 1_522_540_800n;
    const atLast = await callRaw(running.address, PREDICT, Uint8Array.from(predictRequest([...idsOf(4204), ...AMOUNT, ...wire.varintField(5, last)])));
    assert.equal(atLast.violations.length, 1, JSON.stringify(atLast.violations));
    assert.match(atLast.violations[0]?.description ?? '', /ahead of the service's clock \(FRAUD_STATE_MAX_FUTURE_SECONDS\)$/);
    const outcome = await callRaw(running.address, PREDICT, Uint8Array.from(predictRequest([...IDS, ...AMOUNT, ...wire.varintField(5, 2n ** 62n)])));
    assert.equal(outcome.code, status.INVALID_ARGUMENT);
    assert.deepEqual(outcome.violations, [{ field: 'transaction.tx_time_seconds', description: `must be at most ${last} (9999-12-31T23:59:59Z), got ${2n ** 62n}` }]);
  });

  it('should refuse a feature named __proto__ instead of dropping it', async () => {
    const entry = wire.bytesField(8, [...wire.stringField(1, '__proto__'), ...wire.doubleField(2, 0.5)]);
    const outcome = await callRaw(running.address, PREDICT, Uint8Array.from(predictRequest([...IDS, ...AMOUNT, ...TIME, ...entry])));
    assert.equal(outcome.code, status.INVALID_ARGUMENT);
    assert.equal(outcome.violations[0]?.field, 'transaction.features[__proto__]');
  });

  it('should still decode what the generated encoder writes, unchanged', async () => {
    const body = Transaction.encode(Transaction.fromPartial({ transactionId: 1n, customerId: 2n, terminalId: 3n, txAmount: 250, txTimeSeconds: 3600n, features: {} })).finish();
    const outcome = await callRaw(running.address, PREDICT, Uint8Array.from(wire.bytesField(1, [...body])));
    assert.equal(outcome.code, status.OK);
    assert.equal(PredictResponse.decode(outcome.answer ?? Buffer.alloc(0)).transactionId, 1n);
  });
});

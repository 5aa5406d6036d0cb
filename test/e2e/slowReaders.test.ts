import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { FraudCallError, FraudClient } from '../../client/fraudClient.js';
import { DEFAULT_HEALTH_MAX_WATCHES, DEFAULT_MAX_ROWS_IN_FLIGHT, DEFAULT_MAX_ROWS_IN_FLIGHT_PER_CONNECTION } from '../../src/config/config.js';
import { Outcome, PredictBatchRequest, ReportOutcomeBatchRequest, Transaction } from '../../src/gen/fraud/v1/fraud_service.js';
import { HealthCheckRequest } from '../../src/gen/grpc/health/v1/health.js';
import { callRaw } from '../helpers/rawBytes.js';
import { sample, scrape } from '../helpers/scrape.js';
import { openSlowReader } from '../helpers/slowReader.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { transaction } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const BATCH_SIZE = 10_000;
const BATCH = PredictBatchRequest.encode({
  explain: false,
  transactions: Array.from({ length: BATCH_SIZE }, (_, index) =>
    Transaction.fromPartial({ transactionId: BigInt(index), customerId: 1n, terminalId: 1n, txAmount: index % 300, txTimeSeconds: 3600n, features: {} }),
  ),
}).finish();
const PREDICT_BATCH = '/fraud.v1.FraudService/PredictBatch';

/**
 * The figure: with no bound, 100 unread answers of this size took a
 * pod to 469 MB (the chart's limit is 512Mi), and 400 took this test's
 * service past 1.6 GB. Bounded, the service stays near its idle size.
 */
const RSS_BOUND_MB = 320;

function rssMb(service: SpawnedService, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${String(service.process.pid)}/status`, 'utf8'));
  return Number(match?.[1]) / 1024;
}

/** One PredictBatch on `session` whose answer is never read: "unread" once it is answered, or how it was reset. */
function unreadCall(session: ClientHttp2Session): Promise<string> {
  const frame = Buffer.alloc(5 + BATCH.length);
  frame.writeUInt32BE(BATCH.length, 1);
  frame.set(BATCH, 5);
  const stream = session.request({ ':method': 'POST', ':path': PREDICT_BATCH, 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => undefined);
  stream.pause();
  stream.end(frame);
  return new Promise((resolveOutcome) => {
    stream.once('response', () => {
      resolveOutcome('unread');
    });
    stream.once('close', () => {
      resolveOutcome(`reset ${String(stream.rstCode)}`);
    });
  });
}

describe('clients that never read their answers (admission control)', function () {
  this.timeout(120_000);

  it('should hold at most its configured rows for 400 unread large batches, refuse the rest with a retry hint, and keep answering other clients', async () => {
    const service = await spawnService({ FRAUD_LOG_LEVEL: 'info' });
    await service.waitForLog('serving');
    const client = new FraudClient({ address: service.address, deadlineMs: 20_000, retry: { attempts: 1 } });
    const attack = openSlowReader(service.address, PREDICT_BATCH, BATCH, 400, 4);
    try {
      const outcome = await attack.settled;
      const text = await scrape(service.metricsPort);
      const held = sample(text, 'fraud_rows_in_flight') ?? Number.NaN;
      console.log(`      unread ${outcome.unread}, refused ${JSON.stringify(outcome.refused)}, reset ${outcome.reset}; rows held ${held}; RSS ${rssMb(service, 'VmRSS').toFixed(0)} MB (peak ${rssMb(service, 'VmHWM').toFixed(0)} MB)`);
      // Every stream was answered and left unread, refused with RESOURCE_EXHAUSTED by admission
      // control, or reset by Node's HTTP/2 layer (ENHANCE_YOUR_CALM, which clients also see as
      // RESOURCE_EXHAUSTED) for a connection flooding it.
      assert.deepEqual(Object.keys(outcome.refused).filter((code) => code !== '8'), [], JSON.stringify(outcome.refused));
      assert.equal(outcome.unread + (outcome.refused['8'] ?? 0) + outcome.reset, 400);
      assert.ok(outcome.unread >= 1, 'some calls were taken');
      assert.ok(outcome.unread * BATCH_SIZE <= DEFAULT_MAX_ROWS_IN_FLIGHT);
      assert.ok(outcome.unread <= 4 * (DEFAULT_MAX_ROWS_IN_FLIGHT_PER_CONNECTION / BATCH_SIZE), 'no connection holds more than its share');
      assert.equal(held, outcome.unread * BATCH_SIZE);
      assert.ok((outcome.refused['8'] ?? 0) > 0, 'admission control refused some');
      assert.ok((sample(text, 'fraud_admission_refused_total{limit="connection"}') ?? 0) + (sample(text, 'fraud_admission_refused_total{limit="process"}') ?? 0) >= (outcome.refused['8'] ?? 0));
      assert.ok(rssMb(service, 'VmHWM') < RSS_BOUND_MB, `peak RSS ${rssMb(service, 'VmHWM').toFixed(0)} MB`);

      // Other clients still get answers, unary and batch, while the attack holds its rows.
      for (let index = 0; index < 50; index++) assert.equal((await client.predict(transaction({ transactionId: index, txAmount: 250 }))).prediction, 'FRAUD');
      const batch = await client.predictBatch(Array.from({ length: BATCH_SIZE }, (_, index) => transaction({ transactionId: index })));
      assert.equal(batch.predictions.length, BATCH_SIZE);
    } finally {
      attack.close();
      client.close();
      await service.kill();
    }
  });

  it('should refuse a call past its fair share with RESOURCE_EXHAUSTED and a google.rpc.RetryInfo, which the typed client honours, then give the rows back when the reader goes', async () => {
    const service = await spawnService({ FRAUD_MAX_ROWS_IN_FLIGHT: String(BATCH_SIZE), FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION: String(BATCH_SIZE) });
    await service.waitForLog('serving');
    const attack = openSlowReader(service.address, PREDICT_BATCH, BATCH, 1, 1);
    const patient = new FraudClient({ address: service.address, retry: { attempts: 100, maxBackoffMs: 200 } });
    // Two connections hold rows then, each with a share of half the process: more than half is refused.
    const overShare = Array.from({ length: BATCH_SIZE / 2 + 1 }, (_, index) => transaction({ transactionId: index, txAmount: 250 }));
    try {
      assert.equal((await attack.settled).unread, 1);
      const overShareRequest = PredictBatchRequest.encode({ explain: false, transactions: PredictBatchRequest.decode(BATCH).transactions.slice(0, overShare.length) }).finish();
      const refused = await callRaw(service.address, PREDICT_BATCH, overShareRequest);
      assert.equal(refused.code, status.RESOURCE_EXHAUSTED);
      assert.match(refused.details, /FRAUD_MAX_ROWS_IN_FLIGHT\); retry after 100 ms/);
      const impatient = new FraudClient({ address: service.address, retry: { attempts: 1 } });
      await assert.rejects(impatient.predictBatch(overShare), (error: unknown) => error instanceof FraudCallError && error.code === status.RESOURCE_EXHAUSTED);
      impatient.close();

      // The patient client retries after the hinted delay; it gets its answer once the unread call is gone.
      const answer = patient.predictBatch(overShare);
      await waitFor('a refusal of the patient client', async () => (sample(await scrape(service.metricsPort), 'fraud_admission_refused_total{limit="process"}') ?? 0) >= 3);
      attack.close();
      assert.equal((await answer).predictions.length, overShare.length);
      await waitFor('the rows given back', async () => sample(await scrape(service.metricsPort), 'fraud_rows_in_flight') === 0);
    } finally {
      attack.close();
      patient.close();
      await service.kill();
    }
  });

  it('should hold unread ReportOutcomeBatch answers of 40 connections to the row limit, and give the rows back when they close', async () => {
    const service = await spawnService({ FRAUD_LOG_LEVEL: 'info' });
    await service.waitForLog('serving');
    const outcomes = ReportOutcomeBatchRequest.encode({
      outcomes: Array.from({ length: BATCH_SIZE }, (_, index) => ({ transactionId: BigInt(index), outcome: Outcome.OUTCOME_FRAUD, knownAt: undefined, knownAtSeconds: undefined })),
    }).finish();
    const attack = openSlowReader(service.address, '/fraud.v1.FraudService/ReportOutcomeBatch', outcomes, 400, 40);
    try {
      const outcome = await attack.settled;
      const held = sample(await scrape(service.metricsPort), 'fraud_rows_in_flight') ?? Number.NaN;
      console.log(`      unread ${outcome.unread}, refused ${JSON.stringify(outcome.refused)}, reset ${outcome.reset}; rows held ${held}; peak RSS ${rssMb(service, 'VmHWM').toFixed(0)} MB`);
      // Unbounded, 40 such connections took a service to 671 MB.
      assert.ok(outcome.unread * BATCH_SIZE <= DEFAULT_MAX_ROWS_IN_FLIGHT, `${outcome.unread} unread`);
      assert.equal(held, outcome.unread * BATCH_SIZE);
      assert.ok(rssMb(service, 'VmHWM') < RSS_BOUND_MB, `peak RSS ${rssMb(service, 'VmHWM').toFixed(0)} MB`);
      attack.close();
      await waitFor('the rows given back', async () => sample(await scrape(service.metricsPort), 'fraud_rows_in_flight') === 0);
    } finally {
      attack.close();
      await service.kill();
    }
  });

  it('should hold health Watch streams of 400 connections to their limit, and forget them all when the connections close', async () => {
    const service = await spawnService({ FRAUD_LOG_LEVEL: 'info' });
    await service.waitForLog('serving');
    const attack = openSlowReader(service.address, '/grpc.health.v1.Health/Watch', HealthCheckRequest.encode({ service: '' }).finish(), 40_000, 400);
    try {
      const outcome = await attack.settled;
      const open = sample(await scrape(service.metricsPort), 'fraud_health_watches') ?? Number.NaN;
      console.log(`      watching ${outcome.unread}, refused ${JSON.stringify(outcome.refused)}, reset ${outcome.reset}; peak RSS ${rssMb(service, 'VmHWM').toFixed(0)} MB`);
      // Unbounded, all 40,000 stayed open and took a service to 515 MB. Past the streams the process
      // shares among connections, the rest are refused by HTTP/2 (REFUSED_STREAM) until the clients
      // hear their smaller share.
      assert.equal(outcome.unread, DEFAULT_HEALTH_MAX_WATCHES);
      assert.equal(open, DEFAULT_HEALTH_MAX_WATCHES);
      assert.equal(outcome.refused['8'], 40_000 - DEFAULT_HEALTH_MAX_WATCHES - outcome.reset);
      assert.ok(rssMb(service, 'VmHWM') < RSS_BOUND_MB, `peak RSS ${rssMb(service, 'VmHWM').toFixed(0)} MB`);
      attack.close();
      await waitFor('every watch forgotten', async () => sample(await scrape(service.metricsPort), 'fraud_health_watches') === 0);
    } finally {
      attack.close();
      await service.kill();
    }
  });

  it('should never have a request over the limit sent again when the limit is at least 1 MiB (larger than any client retry buffer)', async () => {
    // RESOURCE_EXHAUSTED is retried (the service is busy); a request the client could not keep for a retry is not.
    const service = await spawnService({ FRAUD_MAX_MESSAGE_BYTES: String(1024 * 1024) });
    const client = new FraudClient({ address: service.address, retry: { attempts: 50 } });
    try {
      await service.waitForLog('serving');
      const tooBig = Array.from({ length: 200 }, () => transaction({ features: { [`f_${'x'.repeat(6_000)}`]: 1 } }));
      await assert.rejects(client.predictBatch(tooBig), (error: unknown) => error instanceof FraudCallError && error.code === status.RESOURCE_EXHAUSTED);
      assert.equal(sample(await scrape(service.metricsPort), 'fraud_grpc_requests_total{method="fraud.v1.FraudService/PredictBatch",code="RESOURCE_EXHAUSTED"}'), 1, 'one attempt');
    } finally {
      client.close();
      await service.kill();
    }
  });

  it('should advertise its limit on streams per connection, and refuse streams past its session memory', async () => {
    const service = await spawnService({ FRAUD_GRPC_MAX_CONCURRENT_STREAMS: '7', FRAUD_GRPC_MAX_SESSION_MEMORY_MB: '1', FRAUD_MAX_ROWS_IN_FLIGHT: '1000000', FRAUD_MAX_ROWS_IN_FLIGHT_PER_CONNECTION: '1000000' });
    await service.waitForLog('serving');
    const session = connect(`http://${service.address}`);
    session.on('error', () => undefined);
    try {
      const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolveSettings) => session.once('remoteSettings', resolveSettings));
      assert.equal(settings.maxConcurrentStreams, 7);
      // Answers left unread pile up in the session; past 1 MB, new streams on it are refused (ENHANCE_YOUR_CALM).
      const outcomes: string[] = [];
      for (let index = 0; index < 6; index++) outcomes.push(await unreadCall(session));
      assert.deepEqual(outcomes.slice(0, 2), ['unread', 'unread']);
      assert.ok(outcomes.includes(`reset ${String(constants.NGHTTP2_ENHANCE_YOUR_CALM)}`), outcomes.join(', '));
    } finally {
      session.destroy();
      await service.kill();
    }
  });
});

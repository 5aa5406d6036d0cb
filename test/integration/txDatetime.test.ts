import assert from 'node:assert/strict';
import { fixture } from '../helpers/paths.js';
import { startTestService, transaction, type TestService } from '../helpers/testService.js';

/** 2018-04-03T14:00:00Z, a Tuesday afternoon, in seconds since the spec's epoch (2018-04-01T00:00:00Z, a Sunday). */
const TUESDAY_AFTERNOON_SECONDS = 2 * 86_400 + 14 * 3600;

describe('tx_datetime, the event time the service uses when a transaction carries it (explain, over a real socket)', () => {
  let running: TestService;

  before(async () => {
    // A model over every feature of the spec, the night and weekend flags among them.
    running = await startTestService({ FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32') });
  });

  after(async () => {
    await running.stop();
  });

  async function timeFeatures(overrides: Parameters<typeof transaction>[0]): Promise<[number | undefined, number | undefined]> {
    const answer = await running.client.predict(transaction({ txTimeSeconds: undefined, txTimeDays: undefined, ...overrides }), { explain: true });
    return [answer.features.TX_DURING_NIGHT, answer.features.TX_DURING_WEEKEND];
  }

  it('should take the night and weekend features from a tx_datetime sent alone (Wednesday 14:00 UTC: neither)', async () => {
    // Without tx_datetime the time would be the epoch, a Sunday at midnight: night and weekend.
    assert.deepEqual(await timeFeatures({ txDatetime: new Date('2026-11-25T14:00:00Z') }), [0, 0]);
  });

  it('should take them from a tx_datetime sent alone (Saturday 03:15 UTC: both)', async () => {
    assert.deepEqual(await timeFeatures({ txDatetime: new Date('2026-11-28T03:15:00Z') }), [1, 1]);
  });

  it('should prefer tx_datetime to tx_time_seconds when a transaction carries both', async () => {
    assert.deepEqual(await timeFeatures({ txTimeSeconds: TUESDAY_AFTERNOON_SECONDS }), [0, 0]);
    assert.deepEqual(await timeFeatures({ txTimeSeconds: TUESDAY_AFTERNOON_SECONDS, txDatetime: new Date('2026-11-28T03:15:00Z') }), [1, 1]);
  });
});

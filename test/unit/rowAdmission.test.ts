import assert from 'node:assert/strict';
import { RowsRefusedError } from '../../src/api/apiErrors.js';
import { RECLAIM_AFTER_MS, RETRY_DELAY_MS, RowAdmission, singlesReserve, type RowLimits } from '../../src/api/rowAdmission.js';
import { Metrics } from '../../src/observability/metrics.js';
import { sample } from '../helpers/scrape.js';

/** Calls that never get reset in these tests record it, so a test can see which were. */
function tracked(): { reset: () => void; readonly wasReset: () => boolean } {
  let reset = false;
  return {
    reset: () => {
      reset = true;
    },
    wasReset: () => reset,
  };
}

const noReset = (): void => {
  throw new Error('reset');
};

/** A clock the tests move. */
let clockMs = 0;

function admission(limits: Omit<RowLimits, 'unreadAnswerMs'>, metrics = new Metrics(), unreadAnswerMs = 60_000): RowAdmission {
  const created = new RowAdmission({ ...limits, unreadAnswerMs }, metrics, () => clockMs);
  created.close();
  return created;
}

describe('admission control on rows in flight', () => {
  const refused = (error: unknown): boolean => error instanceof RowsRefusedError && error.retryDelayMs === RETRY_DELAY_MS;

  it('should take rows up to the limit of a connection, and refuse the call that would pass it', () => {
    const rows = admission({ max: 100, maxPerConnection: 40 });
    rows.admit(30, 'a', noReset);
    rows.admit(10, 'a', noReset);
    assert.throws(() => rows.admit(1, 'a', noReset), refused);
    rows.admit(40, 'b', noReset);
    assert.equal(rows.inFlight, 80);
  });

  it('should refuse any connection once the process is at its limit and nothing is unread, and take calls again once rows come back', () => {
    const rows = admission({ max: 100, maxPerConnection: 40 });
    const holds = [rows.admit(40, 'a', noReset), rows.admit(40, 'b', noReset)];
    rows.admit(20, 'c', noReset);
    assert.throws(() => rows.admit(1, 'd', noReset), refused);
    assert.throws(() => {
      rows.checkRoom('d');
    }, refused);
    holds[0]?.release();
    rows.checkRoom('d');
    rows.admit(40, 'd', noReset);
    assert.equal(rows.inFlight, 100);
  });

  it('should give rows back once, however often the release is called', () => {
    const rows = admission({ max: 100, maxPerConnection: 100 });
    const hold = rows.admit(60, 'a', noReset);
    hold.release();
    hold.release();
    assert.equal(rows.inFlight, 0);
    rows.admit(100, 'a', noReset);
  });

  it('should take room back from the oldest unread answers of connections over their fair share, for a connection within its share', async () => {
    const metrics = new Metrics();
    const rows = admission({ max: 100, maxPerConnection: 50 }, metrics);
    const older = tracked();
    const newer = tracked();
    const reader = tracked();
    rows.admit(25, 'greedy', older.reset).answered();
    rows.admit(25, 'greedy', newer.reset).answered();
    // Unread too, and over its share, but answered after both of "greedy"'s.
    rows.admit(40, 'fair', reader.reset).answered();
    rows.admit(10, 'other', noReset);
    // Full. Three connections hold rows, a fourth comes: each one's share is 25, and only "greedy" (50) is over it.
    // Its answers are taken only once they have waited a second: a client that reads has taken them by then.
    clockMs += RECLAIM_AFTER_MS - 1;
    assert.throws(() => rows.admit(5, 'newcomer', noReset), refused);
    clockMs += 1;
    rows.checkRoom('newcomer');
    rows.admit(5, 'newcomer', noReset);
    assert.deepEqual([older.wasReset(), newer.wasReset(), reader.wasReset()], [true, false, false]);
    assert.equal(rows.heldBy('greedy'), 25);
    assert.equal(rows.inFlight, 80);
    assert.equal(sample(await metrics.registry.metrics(), 'fraud_unread_answers_reset_total{reason="fair_share"}'), 1);
  });

  it('should not take room back for a connection over its fair share, nor from answers still being scored', () => {
    const rows = admission({ max: 100, maxPerConnection: 100 });
    const unread = tracked();
    rows.admit(60, 'greedy', unread.reset).answered();
    rows.admit(40, 'scoring', noReset);
    clockMs += RECLAIM_AFTER_MS;
    // Three contenders: a share of 33; 34 is over it.
    assert.throws(() => rows.admit(34, 'big', noReset), refused);
    assert.equal(unread.wasReset(), false);
    // "scoring" (40) is over its share too, but its call has not answered: only "greedy"'s unread rows can go.
    rows.admit(33, 'small', noReset);
    assert.equal(unread.wasReset(), true);
    assert.equal(rows.inFlight, 73);
  });

  it('should reset answers left unread past the time limit and give their rows back, oldest first, and no others', async () => {
    const metrics = new Metrics();
    const rows = admission({ max: 100, maxPerConnection: 100 }, metrics, 1000);
    const first = tracked();
    const second = tracked();
    const hold = rows.admit(30, 'a', first.reset);
    hold.answered();
    rows.admit(20, 'b', second.reset).answered();
    rows.admit(10, 'c', noReset);
    rows.resetExpired(clockMs + 999);
    assert.deepEqual([first.wasReset(), second.wasReset()], [false, false]);
    rows.resetExpired(clockMs + 1000);
    assert.deepEqual([first.wasReset(), second.wasReset()], [true, true]);
    assert.equal(rows.inFlight, 10);
    assert.equal(sample(await metrics.registry.metrics(), 'fraud_unread_answers_reset_total{reason="time_limit"}'), 2);
  });

  it('should keep the reserve for calls of one row: batches leave it, unary calls take it', () => {
    const rows = new RowAdmission({ max: 100, maxPerConnection: 50, unreadAnswerMs: 60_000, reservedForSingles: 10 }, new Metrics());
    rows.close();
    rows.admit(45, 'a', noReset);
    rows.admit(45, 'b', noReset);
    assert.throws(() => rows.admit(2, 'c', noReset), refused);
    for (let call = 0; call < 10; call++) rows.admit(1, `unary-${call}`, noReset);
    assert.equal(rows.inFlight, 100);
    assert.throws(() => rows.admit(1, 'd', noReset), refused);
  });

  it('should reserve 1,000 rows for unary calls by default, and never more than one connection\'s share leaves', () => {
    assert.equal(singlesReserve(60_000, 10_000), 1_000);
    assert.equal(singlesReserve(10_000, 10_000), 0);
  });

  it('should count refusals by the limit that refused, and export the rows held', async () => {
    const metrics = new Metrics();
    const rows = admission({ max: 50, maxPerConnection: 30 }, metrics);
    rows.admit(30, 'a', noReset);
    assert.throws(() => rows.admit(1, 'a', noReset), refused);
    rows.admit(20, 'b', noReset);
    assert.throws(() => rows.admit(1, 'c', noReset), refused);
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'fraud_admission_refused_total{limit="connection"}'), 1);
    assert.equal(sample(text, 'fraud_admission_refused_total{limit="process"}'), 1);
    assert.equal(sample(text, 'fraud_rows_in_flight'), 50);
  });
});

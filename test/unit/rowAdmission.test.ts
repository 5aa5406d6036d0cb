import assert from 'node:assert/strict';
import { RowsRefusedError } from '../../src/api/apiErrors.js';
import { RETRY_DELAY_MS, RowAdmission } from '../../src/api/rowAdmission.js';
import { Metrics } from '../../src/observability/metrics.js';
import { sample } from '../helpers/scrape.js';

describe('admission control on rows in flight', () => {
  const refused = (error: unknown): boolean => error instanceof RowsRefusedError && error.retryDelayMs === RETRY_DELAY_MS;

  it('should take rows up to the limit of a connection, and refuse the call that would pass it', () => {
    const admission = new RowAdmission({ max: 100, maxPerConnection: 40 }, new Metrics());
    admission.admit(30, 'a');
    admission.admit(10, 'a');
    assert.throws(() => admission.admit(1, 'a'), refused);
    admission.admit(40, 'b');
    assert.equal(admission.inFlight, 80);
  });

  it('should refuse any connection once the process is at its limit, and take calls again once rows come back', () => {
    const admission = new RowAdmission({ max: 100, maxPerConnection: 40 }, new Metrics());
    const releases = [admission.admit(40, 'a'), admission.admit(40, 'b')];
    admission.admit(20, 'c');
    assert.throws(() => admission.admit(1, 'd'), refused);
    assert.throws(() => {
      admission.checkRoom('d');
    }, refused);
    releases[0]?.();
    admission.checkRoom('d');
    admission.admit(40, 'd');
    assert.equal(admission.inFlight, 100);
  });

  it('should give rows back once, however often the release is called', () => {
    const admission = new RowAdmission({ max: 100, maxPerConnection: 100 }, new Metrics());
    const release = admission.admit(60, 'a');
    release();
    release();
    assert.equal(admission.inFlight, 0);
    admission.admit(100, 'a');
  });

  it('should count refusals by the limit that refused, and export the rows held', async () => {
    const metrics = new Metrics();
    const admission = new RowAdmission({ max: 50, maxPerConnection: 30 }, metrics);
    admission.admit(30, 'a');
    assert.throws(() => admission.admit(1, 'a'), refused);
    admission.admit(20, 'b');
    assert.throws(() => admission.admit(1, 'c'), refused);
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'fraud_admission_refused_total{limit="connection"}'), 1);
    assert.equal(sample(text, 'fraud_admission_refused_total{limit="process"}'), 1);
    assert.equal(sample(text, 'fraud_rows_in_flight'), 50);
  });
});

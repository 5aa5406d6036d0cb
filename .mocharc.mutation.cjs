// The mocha configuration of `npm run mutation` (StrykerJS, stryker.config.json):
// the compiled unit and integration suites only. The e2e and deploy suites need
// MinIO, lakeFS and Redis and take far too long to run once per mutant.
//
// Stryker needs every test green in its first run, so the grep leaves out:
// - tests that depend on the machine or on work in progress elsewhere: the
//   C-core client (grpcio in .tools/venv), the bundled-model expectations being
//   changed on another branch, and request-decoding cases failing on `state`;
// - two call-metrics tests that race a 10,000-transaction batch against a
//   reset or a short grpc-timeout: under Stryker's coverage instrumentation the
//   batch is an order of magnitude slower and they time out.
// Trim this list as those are fixed.
const excluded = [
  'client-supplied names in error details',
  'scenario_1 for an amount just over 220',
  'classify a scenario batch in request order',
  'count predictions by task, model and class',
  'fraud-cli scenario should classify with the scenario model',
  'fraud-cli batch should read JSON Lines',
  'for wire type 7, which does not exist',
  'for an end-group with no start-group',
  'merge a tx_datetime sent in pieces',
  'first and the last instant a Timestamp can hold',
  'refuse tx_time_seconds past 9999-12-31T23:59:59Z',
  'count a call its client cancelled as CANCELLED, not OK',
  'ran past their deadline as DEADLINE_EXCEEDED',
];

module.exports = {
  spec: ['dist/test/unit/**/*.test.js', 'dist/test/integration/**/*.test.js'],
  timeout: 60000,
  reporter: 'dot',
  grep: `^(?!.*(${excluded.map((title) => title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')}))`,
};

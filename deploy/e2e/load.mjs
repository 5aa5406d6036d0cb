#!/usr/bin/env node
// Calls Predict back to back over REST (through Envoy) and over gRPC until a
// stop file appears, and counts every failure: the e2e job's proof that a
// model swap loses no call. One keep-alive HTTP connection and one gRPC channel,
// so kubectl port-forward sees no connection churn; no client retries, so
// every failed call is counted. Needs `npm run build` (the generated client).
//
//   node deploy/e2e/load.mjs --rest http://127.0.0.1:18080 --grpc 127.0.0.1:18051 \
//     --stop /tmp/stop --out /tmp/load.json
//
// The result file: {"rest": {"ok", "failed", "revisions": {<revision>: count}},
// "grpc": {...}, "errors": [first few messages]}.
import { credentials } from '@grpc/grpc-js';
import { existsSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FraudServiceClient, PredictRequest } from '../../dist/src/gen/fraud/v1/fraud_service.js';

const { values } = parseArgs({
  options: { rest: { type: 'string' }, grpc: { type: 'string' }, stop: { type: 'string' }, out: { type: 'string' } },
});
if (!values.rest || !values.grpc || !values.stop || !values.out) {
  console.error('usage: load.mjs --rest URL --grpc HOST:PORT --stop FILE --out FILE');
  process.exit(2);
}

const body = { transaction_id: 1, customer_id: 42, terminal_id: 7, tx_amount: 250.0, tx_time_seconds: 3600, tx_time_days: 0 };
const request = PredictRequest.fromPartial({
  transaction: { transactionId: 1n, customerId: 42n, terminalId: 7n, txAmount: 250.0, txTimeSeconds: 3600n, txTimeDays: 0n },
});
const errors = [];
const tally = () => ({ ok: 0, failed: 0, revisions: {} });
const result = { rest: tally(), grpc: tally(), errors };

function record(counts, revision, error) {
  if (error === undefined) {
    counts.ok += 1;
    counts.revisions[revision] = (counts.revisions[revision] ?? 0) + 1;
  } else {
    counts.failed += 1;
    if (errors.length < 10) errors.push(error);
  }
}

async function restLoop() {
  while (!existsSync(values.stop)) {
    try {
      const response = await fetch(`${values.rest}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
      });
      const answer = await response.json();
      if (response.status === 200 && answer.prediction === 'FRAUD') record(result.rest, answer.model.revision);
      else record(result.rest, undefined, `REST ${response.status}: ${JSON.stringify(answer).slice(0, 200)}`);
    } catch (error) {
      record(result.rest, undefined, `REST: ${error.message}`);
    }
  }
}

async function grpcLoop() {
  const client = new FraudServiceClient(values.grpc, credentials.createInsecure());
  while (!existsSync(values.stop)) {
    await new Promise((done) => {
      client.predict(request, { deadline: Date.now() + 5000 }, (error, answer) => {
        if (error) record(result.grpc, undefined, `gRPC ${error.code}: ${error.details}`);
        else if (answer.prediction !== 'FRAUD') record(result.grpc, undefined, `gRPC: unexpected ${answer.prediction}`);
        else record(result.grpc, answer.model?.revision ?? '');
        done();
      });
    });
  }
  client.close();
}

await Promise.all([restLoop(), grpcLoop()]);
writeFileSync(values.out, JSON.stringify(result, null, 2));

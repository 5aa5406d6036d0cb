/**
 * A client process for the replica tests: the typed client, on a gRPC target
 * given on the command line, resolved through the DNS server named in that
 * target (grpc-js reads GRPC_NODE_USE_ALTERNATIVE_RESOLVER at start-up, so
 * this runs in a process of its own). Each line read on stdin is a number of
 * Predict calls to make, one after the other; it answers each line with
 * {"done": n, "failed": n} on stdout, and exits when stdin ends.
 *
 *   GRPC_NODE_USE_ALTERNATIVE_RESOLVER=true node dist/test/helpers/callLoop.js dns://127.0.0.1:5353/fraud.test:50051
 */
import { createInterface } from 'node:readline';
import { FraudClient } from '../../client/fraudClient.js';

const target = process.argv[2];
if (target === undefined) {
  process.stderr.write('usage: callLoop <target>\n');
  process.exit(2);
}
const client = new FraudClient({
  address: target,
  deadlineMs: 5_000,
  // Re-resolve as soon as a connection ends, not after grpc-js's default 30 s.
  channelOptions: { 'grpc.dns_min_time_between_resolutions_ms': 200 },
});
for await (const line of createInterface({ input: process.stdin })) {
  const calls = Number(line);
  let failed = 0;
  for (let index = 0; index < calls; index++) {
    try {
      await client.predict({ transactionId: index, customerId: 42, terminalId: 7, txAmount: 250, txTimeSeconds: 3600 });
    } catch {
      failed++;
    }
  }
  process.stdout.write(`${JSON.stringify({ done: calls, failed })}\n`);
}
client.close();

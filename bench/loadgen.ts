/**
 * A lean load generator for large messages: it sends one pre-encoded request
 * over and over and does not decode the answers (it checks the status of each
 * and decodes the first), so it costs little next to the server it loads.
 * ghz re-encodes and decodes 1,000-item messages through dynamic protobuf on
 * every call, which makes it, not the service, the bottleneck on two cores.
 * Calls refused by admission control (RESOURCE_EXHAUSTED with a retry hint)
 * are retried after the hinted delay, as a well-behaved client does, and
 * counted.
 *
 *   node dist/bench/loadgen.js <address> <method path> <request file> <concurrency> <calls>
 * prints {"rps", "p50Ms", "p99Ms", "refusals", "firstAnswer"} on stdout.
 *
 * A request file holds one encoded request, or (named *.requests) many, each
 * preceded by its length as a 4-byte little-endian integer: call i sends
 * request i, so every call can be a distinct transaction.
 */
import { Client, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { retryDelayOf } from '../client/fraudClient.js';

const [address, method, requestFile, concurrencyText, callsText] = process.argv.slice(2);
if (address === undefined || method === undefined || requestFile === undefined) {
  process.stderr.write('usage: loadgen <address> <method path> <request file> <concurrency> <calls>\n');
  process.exit(2);
}
const target: string = method;
const requests = readRequests(requestFile);
const concurrency = Number(concurrencyText ?? 4);
const calls = Number(callsText ?? 1000);
const client = new Client(address, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
const identity = (bytes: Buffer): Buffer => bytes;
let refusals = 0;

function readRequests(path: string): Buffer[] {
  const bytes = readFileSync(path);
  if (!path.endsWith('.requests')) return [bytes];
  const list: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const length = bytes.readUInt32LE(offset);
    list.push(bytes.subarray(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  return list;
}

let sent = 0;

function attempt(request: Buffer): Promise<Buffer> {
  return new Promise((resolveCall, rejectCall) => {
    client.makeUnaryRequest(target, identity, identity, request, (error: ServiceError | null, answer?: Buffer) => {
      if (error || answer === undefined) rejectCall(error ?? new Error('no answer'));
      else resolveCall(answer);
    });
  });
}

/** One call, retried while admission control refuses it; latency includes the waits. */
async function call(): Promise<{ ms: number; answer: Buffer }> {
  const request = requests[sent++ % requests.length] as Buffer;
  const started = performance.now();
  for (;;) {
    try {
      const answer = await attempt(request);
      return { ms: performance.now() - started, answer };
    } catch (error) {
      const delayMs = (error as ServiceError).code === status.RESOURCE_EXHAUSTED ? retryDelayOf((error as ServiceError).metadata) : undefined;
      if (delayMs === undefined) throw error;
      refusals++;
      await new Promise((wake) => setTimeout(wake, delayMs * (1 + Math.random())));
    }
  }
}

const first = await call();
const latencies: number[] = [];
let issued = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (issued < calls) {
      issued++;
      latencies.push((await call()).ms);
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const percentile = (share: number): number => latencies[Math.min(latencies.length - 1, Math.floor(share * latencies.length))] ?? Number.NaN;
process.stdout.write(
  `${JSON.stringify({ rps: latencies.length / seconds, p50Ms: percentile(0.5), p99Ms: percentile(0.99), refusals, firstAnswer: first.answer.toString('base64') })}\n`,
);
client.close();

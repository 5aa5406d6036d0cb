/**
 * A lean load generator for PredictStream: `streams` streams on one
 * connection, each sending pre-encoded PredictStreamRequest messages (the
 * transactions of a request file, in order, every one distinct) with at most
 * `window` requests unanswered at a time, and counting the answers (the first
 * is decoded to check it). Latency is from a request's write to its answer.
 *
 *   node dist/bench/streamLoadgen.js <address> <requests file> <streams> <window>
 * prints {"rps", "transactionsPerSecond", "p50Ms", "p99Ms", "firstAnswer"} on stdout.
 *
 * The requests file holds encoded requests, each preceded by its length (4
 * bytes, little-endian); they are dealt to the streams in turn.
 */
import { Client, credentials, Metadata } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const [address, requestFile, streamsText, windowText] = process.argv.slice(2);
if (address === undefined || requestFile === undefined) {
  process.stderr.write('usage: streamLoadgen <address> <requests file> <streams> <window>\n');
  process.exit(2);
}
const requests = readRequests(requestFile);
const streams = Number(streamsText ?? 4);
const window = Number(windowText ?? 8);
const client = new Client(address, credentials.createInsecure());
const identity = (bytes: Buffer): Buffer => bytes;
const latencies: number[] = [];
let firstAnswer: Buffer | undefined;

function readRequests(path: string): Buffer[] {
  const bytes = readFileSync(path);
  const list: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const length = bytes.readUInt32LE(offset);
    list.push(bytes.subarray(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  return list;
}

/** One stream sending `mine` with at most `window` unanswered. */
function run(mine: readonly Buffer[]): Promise<void> {
  return new Promise((resolveRun, rejectRun) => {
    const call = client.makeBidiStreamRequest('/fraud.v1.FraudService/PredictStream', identity, identity, new Metadata());
    const sentAt: number[] = [];
    let sent = 0;
    let answered = 0;
    const fill = (): void => {
      while (sent < mine.length && sent - answered < window) {
        sentAt.push(performance.now());
        call.write(mine[sent++] as Buffer);
      }
      if (sent === mine.length) call.end();
    };
    call.on('data', (answer: Buffer) => {
      firstAnswer ??= answer;
      latencies.push(performance.now() - (sentAt[answered++] as number));
      fill();
    });
    call.on('error', rejectRun);
    call.on('end', () => {
      if (answered === mine.length) resolveRun();
      else rejectRun(new Error(`${answered} answers for ${mine.length} requests`));
    });
    fill();
  });
}

const started = performance.now();
await Promise.all(Array.from({ length: streams }, (_, stream) => run(requests.filter((_, index) => index % streams === stream))));
const seconds = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const percentile = (share: number): number => latencies[Math.min(latencies.length - 1, Math.floor(share * latencies.length))] ?? Number.NaN;
process.stdout.write(
  `${JSON.stringify({ rps: latencies.length / seconds, p50Ms: percentile(0.5), p99Ms: percentile(0.99), firstAnswer: firstAnswer?.toString('base64') ?? '' })}\n`,
);
client.close();

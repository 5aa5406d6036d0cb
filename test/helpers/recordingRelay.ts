import { Client, credentials, Metadata, Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { FraudServiceService } from '../../src/gen/fraud/v1/fraud_service.js';

/** What the relay saw, in the order it happened. */
export type RelayEvent =
  /** An attempt arrived from the client; `previousAttempts` is its grpc-previous-rpc-attempts header (gRFC A6), absent on a first attempt. */
  | { readonly kind: 'attempt'; readonly method: string; readonly previousAttempts: string | undefined }
  /** The service answered an attempt; `pushbackMs` is its grpc-retry-pushback-ms trailer. */
  | { readonly kind: 'answer'; readonly code: status; readonly pushbackMs: string | undefined }
  /** The pushback of the last refusal, less PUSHBACK_SLACK_MS, has gone by since the relay passed that refusal on. */
  | { readonly kind: 'pushback over' };

/**
 * How much earlier than the pushback the relay marks it over. Clients in other
 * processes run their own timers, which may round to whole milliseconds or
 * start from a time read a little before the answer came, so one that waits
 * the pushback may send its retry a millisecond or so before the relay's timer
 * of the same length fires (seen with grpcio). A client that ignores the
 * pushback waits its own backoff, at most 60 ms with the published config:
 * far before the mark.
 */
const PUSHBACK_SLACK_MS = 10;

/** The trailers a refusal carries that clients act on; passed on as they are. */
const PASSED_TRAILERS = ['grpc-status-details-bin', 'grpc-retry-pushback-ms'];

const identity = (bytes: Buffer): Buffer => bytes;

export interface RelayOptions {
  readonly onRefusal?: () => Promise<void>;
  readonly loseAnswers?: number;
}

/**
 * A gRPC relay on 127.0.0.1 (a port chosen by the OS) in front of the real
 * service, for tests of what clients do with its answers: each unary call of
 * fraud.v1.FraudService is passed on as bytes, once (the relay never retries),
 * with its grpc-previous-rpc-attempts header, and its status and trailers
 * passed back. It records every attempt as it arrives, every answer, and, for
 * an answer with a pushback, the moment that delay (less PUSHBACK_SLACK_MS)
 * has gone by since it passed the answer on: a client that waits the pushback
 * sends its retry after that event, never before. (The timer starts before
 * the client can have the answer, and a client's own timer starts later; an
 * attempt that arrives once the mark is due, while a busy event loop has not
 * yet run the relay's timer, is recorded after the mark.)
 *
 * `onRefusal` runs before a refused answer is passed on: a test frees there
 * the room the retry needs, so the retry is answered whenever it comes.
 * `loseAnswers` makes the relay drop that many successful answers (kept in
 * `lost`) and answer UNAVAILABLE instead, as a connection lost after the
 * service did the work would: the client's retry is then a repeat.
 */
export class RecordingRelay {
  readonly events: RelayEvent[] = [];
  /** The answers dropped by `loseAnswers`, in order. */
  readonly lost: Buffer[] = [];
  /** Takes requests of any size: the service's limit is the one under test. */
  private readonly server = new Server({ 'grpc.max_receive_message_length': -1 });
  private readonly upstream: Client;
  private port = 0;

  private readonly onRefusal: () => Promise<void>;
  private toLose: number;
  /** The mark of the last pushback, while it has not been recorded. */
  private pendingMark: { readonly dueAt: number; readonly timer: NodeJS.Timeout } | undefined;

  private constructor(upstreamAddress: string, options: RelayOptions) {
    this.upstream = new Client(upstreamAddress, credentials.createInsecure(), { 'grpc.enable_retries': 0 });
    this.onRefusal = options.onRefusal ?? (() => Promise.resolve());
    this.toLose = options.loseAnswers ?? 0;
  }

  static async start(upstreamAddress: string, options: RelayOptions = {}): Promise<RecordingRelay> {
    const relay = new RecordingRelay(upstreamAddress, options);
    await relay.listen();
    return relay;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The attempts of `method` (e.g. "Predict") as they arrived. */
  attempts(method: string): (string | undefined)[] {
    return this.events.flatMap((event) => (event.kind === 'attempt' && event.method === method ? [event.previousAttempts] : []));
  }

  stop(): Promise<void> {
    if (this.pendingMark !== undefined) clearTimeout(this.pendingMark.timer);
    this.upstream.close();
    return new Promise((stopped) => {
      this.server.tryShutdown(() => {
        stopped();
      });
    });
  }

  private async listen(): Promise<void> {
    const methods = Object.entries(FraudServiceService);
    const definition: ServiceDefinition = Object.fromEntries(
      methods.map(([name, method]) => [
        name,
        { path: method.path, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
      ]),
    );
    const implementation: UntypedServiceImplementation = Object.fromEntries(
      methods.map(([name, method]) => [
        name,
        (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
          this.pass(method.path, call, callback);
        },
      ]),
    );
    this.server.addService(definition, implementation);
    this.port = await new Promise<number>((bound, failed) => {
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) => {
        if (error) failed(error);
        else bound(port);
      });
    });
  }

  private pass(path: string, call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>): void {
    const previous = call.metadata.get('grpc-previous-rpc-attempts')[0];
    // A mark already due goes first, even if a busy event loop has not run its timer yet.
    if (this.pendingMark !== undefined && performance.now() >= this.pendingMark.dueAt) this.markPushbackOver();
    this.events.push({ kind: 'attempt', method: path.slice(path.lastIndexOf('/') + 1), previousAttempts: previous === undefined ? undefined : String(previous) });
    // The service sees which attempts are retries, as it would without the relay.
    const upstreamMetadata = new Metadata();
    if (previous !== undefined) upstreamMetadata.set('grpc-previous-rpc-attempts', String(previous));
    this.upstream.makeUnaryRequest(path, identity, identity, call.request, upstreamMetadata, { deadline: Date.now() + 10_000 }, (error: ServiceError | null, response?: Buffer) => {
      if (error === null) {
        this.events.push({ kind: 'answer', code: status.OK, pushbackMs: undefined });
        if (this.toLose > 0 && response !== undefined) {
          this.toLose--;
          this.lost.push(response);
          callback({ code: status.UNAVAILABLE, details: 'the answer was lost on the way (test relay)' });
          return;
        }
        callback(null, response);
        return;
      }
      const pushback = error.metadata.get('grpc-retry-pushback-ms')[0];
      this.events.push({ kind: 'answer', code: error.code, pushbackMs: pushback === undefined ? undefined : String(pushback) });
      const trailers = new Metadata();
      for (const key of PASSED_TRAILERS) for (const value of error.metadata.get(key)) trailers.add(key, value);
      void this.onRefusal().then(() => {
        if (pushback !== undefined) {
          const delay = Number(pushback) - PUSHBACK_SLACK_MS;
          const timer = setTimeout(() => {
            this.markPushbackOver();
          }, delay);
          this.pendingMark = { dueAt: performance.now() + delay, timer };
        }
        callback({ code: error.code, details: error.details, metadata: trailers });
      });
    });
  }

  private markPushbackOver(): void {
    if (this.pendingMark === undefined) return;
    clearTimeout(this.pendingMark.timer);
    this.pendingMark = undefined;
    this.events.push({ kind: 'pushback over' });
  }
}

import { Client, credentials, Metadata, Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { FraudServiceService } from '../../src/gen/fraud/v1/fraud_service.js';

/** What the relay saw, in the order it happened. */
export type RelayEvent =
  /** An attempt arrived from the client; `previousAttempts` is its grpc-previous-rpc-attempts header (gRFC A6), absent on a first attempt. */
  | { readonly kind: 'attempt'; readonly method: string; readonly previousAttempts: string | undefined }
  /** The service answered an attempt; `pushbackMs` is its grpc-retry-pushback-ms trailer. */
  | { readonly kind: 'answer'; readonly code: status; readonly pushbackMs: string | undefined }
  /** The pushback of the last refusal has gone by since the relay passed that refusal on. */
  | { readonly kind: 'pushback over' };

/** The trailers a refusal carries that clients act on; passed on as they are. */
const PASSED_TRAILERS = ['grpc-status-details-bin', 'grpc-retry-pushback-ms'];

const identity = (bytes: Buffer): Buffer => bytes;

/**
 * A gRPC relay on 127.0.0.1 (a port chosen by the OS) in front of the real
 * service, for tests of what clients do with its answers: each unary call of
 * fraud.v1.FraudService is passed on as bytes, once (the relay never retries),
 * with its grpc-previous-rpc-attempts header, and its status and trailers
 * passed back. It records every attempt as it
 * arrives, every answer, and, for an answer with a pushback, the moment that
 * delay has gone by since it passed the answer on: a client that waits the
 * pushback sends its retry after that event, never before. (The timer starts
 * before the client can have the answer, and a client's own timer of the same
 * delay starts later.)
 *
 * `onRefusal` runs before a refused answer is passed on: a test frees there
 * the room the retry needs, so the retry is answered whenever it comes.
 * `loseAnswers` makes the relay drop that many successful answers (kept in
 * `lost`) and answer UNAVAILABLE instead, as a connection lost after the
 * service did the work would: the client's retry is then a repeat.
 */
export interface RelayOptions {
  readonly onRefusal?: () => Promise<void>;
  readonly loseAnswers?: number;
}

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
          setTimeout(() => {
            this.events.push({ kind: 'pushback over' });
          }, Number(pushback));
        }
        callback({ code: error.code, details: error.details, metadata: trailers });
      });
    });
  }
}

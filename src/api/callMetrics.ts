import { getChannelzHandlers, ServerInterceptingCall, status, type Deadline, type Metadata, type Server, type ServerInterceptor } from '@grpc/grpc-js';
import { constants } from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { Metrics } from '../observability/metrics.js';
import { http2StreamOf } from './callStream.js';

/** The header a gRPC client sends with a retry (gRFC A6): how many attempts of the call came before it. */
const PREVIOUS_ATTEMPTS_KEY = 'grpc-previous-rpc-attempts';

const STATUS_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(status).filter(([, code]) => typeof code === 'number').map(([name, code]) => [code, name]),
);

/**
 * The `method` label of a call: its full gRPC method name without the leading
 * slash (`fraud.v1.FraudService/Predict`, `grpc.health.v1.Health/Check`), the
 * name gRPC's OpenTelemetry metrics (gRFC A66) give it. Only registered
 * methods reach an interceptor, so every value is one of the server's.
 */
export function methodLabel(path: string): string {
  return path.startsWith('/') ? path.slice(1) : path;
}

type ChannelzGetServer = ReturnType<typeof getChannelzHandlers>['GetServer'];

/**
 * Counts every call by the status its client got, in one place: a server
 * interceptor outermost on the transport side sees the status of every call
 * a handler or another interceptor answers, and the end of every call.
 *
 * A call the service reset (ENHANCE_YOUR_CALM: its answer was left unread too
 * long, see rowAdmission.ts) was RESOURCE_EXHAUSTED for its client. grpc-js
 * answers some calls itself, below the interceptors, and then only reports
 * that the call ended; so does a call whose client reset it. Those are told
 * apart by what is known:
 * - the deadline has passed: the client got DEADLINE_EXCEEDED (from grpc-js's
 *   timer or its own);
 * - the request had arrived, or the client reset the call while sending it:
 *   the client cancelled (or its connection went): CANCELLED;
 * - neither: grpc-js refused the request as it came in, which it does for a
 *   message over the size limit: RESOURCE_EXHAUSTED.
 * Calls to methods the server does not have never reach an interceptor; they
 * are the calls channelz saw start minus those routed here, counted at scrape
 * time as method "other" (gRFC A66's name for them), code UNIMPLEMENTED.
 */
export class CallMetrics {
  private routed = 0;
  /** When the event loop last ran a timer: a call handled long after it may have waited that long to be read. */
  private loopTurnedAt = performance.now();
  private readonly loopClock: NodeJS.Timeout;

  constructor(private readonly metrics: Metrics) {
    this.loopClock = setInterval(() => {
      this.loopTurnedAt = performance.now();
    }, LOOP_CLOCK_MS);
    this.loopClock.unref();
  }

  /** Stops the event-loop clock (the process is stopping). */
  close(): void {
    clearInterval(this.loopClock);
  }

  readonly interceptor: ServerInterceptor = (method, call) => {
    this.routed++;
    const { metrics } = this;
    const label = methodLabel(method.path);
    const started = performance.now();
    // How late the call may have been read: its headers may have waited while the loop was busy,
    // and its client's deadline is earlier than the one grpc-js computed from them by as much.
    const lateMs = Math.max(0, started - this.loopTurnedAt - LOOP_CLOCK_MS);
    metrics.rpcInFlight.inc();
    let code: number | undefined;
    let requestArrived = false;
    let closedWithoutRequest = false;
    let ended = false;
    return new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata: Metadata, nextMetadata: (metadata: Metadata) => void) => {
            // A retry of an earlier attempt (clients with the published service config retry busy
            // answers and UNAVAILABLE): the load retries add. Counted here, before authentication and
            // admission, so a retry refused again is counted too.
            if (metadata.get(PREVIOUS_ATTEMPTS_KEY).length > 0) metrics.retryAttempts.labels(label).inc();
            nextMetadata(metadata);
          },
          onReceiveMessage: (message: unknown, nextMessage: (message: unknown) => void) => {
            requestArrived = true;
            nextMessage(message);
          },
          onReceiveHalfClose: (nextHalfClose: () => void) => {
            // A unary call closed without its request: the client reset it (Node
            // reports a reset as the end of the request), and grpc-js's
            // UNIMPLEMENTED answer to it reaches nobody.
            if (!requestArrived && !method.requestStream) closedWithoutRequest = true;
            nextHalfClose();
          },
          onCancel: () => {
            if (ended) return;
            ended = true;
            const final =
              http2StreamOf(call)?.rstCode === constants.NGHTTP2_ENHANCE_YOUR_CALM
                ? status.RESOURCE_EXHAUSTED
                : ((closedWithoutRequest ? undefined : code) ?? endedUnanswered(call.getDeadline(), requestArrived || closedWithoutRequest, lateMs));
            metrics.rpcRequests.labels(label, STATUS_NAMES[final] ?? String(final)).inc();
            metrics.rpcDuration.labels(label).observe((performance.now() - started) / 1000);
            metrics.rpcInFlight.dec();
          },
        });
      },
      sendStatus: (sent, nextStatus) => {
        // A status sent after the call ended reaches nobody: the end was already
        // counted. One sent past the deadline is dropped by grpc-js, whose
        // deadline timer has already answered DEADLINE_EXCEEDED.
        if (!ended) code ??= deadlinePassed(call.getDeadline(), 0) ? status.DEADLINE_EXCEEDED : sent.code;
        nextStatus(sent);
      },
    });
  };

  /** Counts, at every scrape, the calls `server` answered UNIMPLEMENTED before routing (channelz's count minus ours). */
  countUnroutedCalls(server: Server): void {
    const serverId = String(server.getChannelzRef().id);
    const getServer: ChannelzGetServer = getChannelzHandlers().GetServer;
    this.metrics.unroutedCallsSource = () => {
      let started = this.routed;
      // The channelz handler answers synchronously from grpc-js's own counters,
      // and reads nothing of the call but its request.
      // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
      getServer({ request: { server_id: serverId } } as Parameters<ChannelzGetServer>[0], (error, response) => {
        if (error === null) started = Number(response?.server?.data?.calls_started ?? started);
      });
      return Math.max(0, started - this.routed);
    };
  }
}

/**
 * A client that gives up at its deadline resets the call; the server sees the
 * reset a little before its own deadline, which is later by the time the
 * request took to arrive, and by the time the call waited to be read while
 * the event loop was busy (`lateMs`). Resets this close to the deadline count
 * as the client saw them: DEADLINE_EXCEEDED.
 */
const DEADLINE_SLACK_MS = 50;
/** How often the event-loop clock ticks: precise enough for the slack, and cheap. */
const LOOP_CLOCK_MS = 10;

/** The status the client of a call that ended with no status from the service (or was reset by it) got. */
function endedUnanswered(deadline: Deadline, requestArrived: boolean, lateMs: number): status {
  if (deadlinePassed(deadline, DEADLINE_SLACK_MS + lateMs)) return status.DEADLINE_EXCEEDED;
  return requestArrived ? status.CANCELLED : status.RESOURCE_EXHAUSTED;
}

function deadlinePassed(deadline: Deadline, slackMs: number): boolean {
  return Date.now() + slackMs >= (deadline instanceof Date ? deadline.getTime() : deadline);
}

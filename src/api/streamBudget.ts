import { ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import type { Http2Server, Http2Session } from 'node:http2';
import { http2StreamOf } from './callStream.js';

/**
 * A budget of HTTP/2 streams open at once in the whole process, shared among
 * the connections. Each stream costs about 12 KB while it lasts, whatever its
 * method, and a client may open FRAUD_GRPC_MAX_CONCURRENT_STREAMS on each of
 * its connections at once: 400 connections opening 100 streams each took the
 * process past 500 MB for a moment. So the limit each connection is told
 * (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS) shrinks as connections come, to
 * the budget divided among them (a power of two, at least 1), and grows back
 * as they go. Clients queue what does not fit, as HTTP/2 asks them to; no call
 * fails. Connections are seen from the HTTP/2 server grpc-js runs (found
 * through the first call's stream), from the moment they open.
 */
export class StreamBudget {
  private readonly sessions = new Set<Http2Session>();
  private readonly servers = new WeakSet<Http2Server>();
  private perConnection: number;

  constructor(
    readonly total: number,
    readonly maxPerConnection: number,
  ) {
    this.perConnection = maxPerConnection;
  }

  /** The limit each connection is told now. */
  get streamsPerConnection(): number {
    return this.perConnection;
  }

  /** Connections open now (once the first call has been seen). */
  get connections(): number {
    return this.sessions.size;
  }

  /** Sees every call first, to find the HTTP/2 server and its connections. */
  readonly interceptor: ServerInterceptor = (_method, call) => {
    const session = http2StreamOf(call)?.session;
    if (session !== undefined && !this.sessions.has(session)) {
      const server = serverOf(session);
      if (server !== undefined && !this.servers.has(server)) {
        this.servers.add(server);
        server.on('session', (opened: Http2Session) => {
          this.add(opened, server);
        });
      }
      this.add(session, server);
    }
    return new ServerInterceptingCall(call);
  };

  private add(session: Http2Session, server: Http2Server | undefined): void {
    if (this.sessions.has(session) || session.destroyed || session.closed) return;
    this.sessions.add(session);
    session.once('close', () => {
      this.sessions.delete(session);
      this.rebalance(server);
    });
    if (session.localSettings.maxConcurrentStreams !== this.perConnection) tell(session, this.perConnection);
    this.rebalance(server);
  }

  private rebalance(server: Http2Server | undefined): void {
    const share = Math.floor(this.total / Math.max(1, this.sessions.size));
    const target = Math.min(this.maxPerConnection, Math.max(1, 2 ** Math.floor(Math.log2(Math.max(1, share)))));
    if (target === this.perConnection) return;
    this.perConnection = target;
    // New connections start with it; open ones are told.
    server?.updateSettings({ maxConcurrentStreams: target });
    for (const session of this.sessions) tell(session, target);
  }
}

function tell(session: Http2Session, maxConcurrentStreams: number): void {
  if (session.destroyed || session.closed) return;
  try {
    session.settings({ maxConcurrentStreams });
  } catch {
    // A session closing meanwhile (too many pending settings): its 'close' comes next.
  }
}

/** The server a connection was accepted by: net sockets keep it as `server`, and the session's socket proxy shows it. */
function serverOf(session: Http2Session): Http2Server | undefined {
  const server: unknown = (session.socket as unknown as { server?: unknown }).server;
  return typeof server === 'object' && server !== null && 'updateSettings' in server && 'on' in server ? (server as Http2Server) : undefined;
}

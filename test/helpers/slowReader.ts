import { connect, type ClientHttp2Session } from 'node:http2';

export interface SlowReaderOutcome {
  /** Streams whose answer started (headers without a status): the service scored them and waits for us to read. */
  readonly unread: number;
  /** Streams answered with a status at once (trailers-only), by gRPC status code. */
  readonly refused: Readonly<Record<string, number>>;
  /** Streams reset by the server before any answer (HTTP/2 RST_STREAM), e.g. a session over its memory limit. */
  readonly reset: number;
}

export interface SlowReader {
  /** Resolves once every stream has an answer (started or refused) or was reset. */
  readonly settled: Promise<SlowReaderOutcome>;
  close(): void;
}

/**
 * A hostile client: a raw HTTP/2 client (no gRPC library) that opens `streams`
 * calls of `path` with `request` (an encoded protobuf message) over
 * `connections` connections and never reads a byte of the answers, so HTTP/2
 * flow control stops the server's writes and whatever it has not sent stays
 * in its memory.
 */
export function openSlowReader(address: string, path: string, request: Uint8Array, streams: number, connections: number): SlowReader {
  const frame = Buffer.alloc(5 + request.length);
  frame.writeUInt32BE(request.length, 1);
  frame.set(request, 5);
  const sessions: ClientHttp2Session[] = Array.from({ length: connections }, () => {
    const session = connect(`http://${address}`);
    session.on('error', () => undefined);
    return session;
  });
  // Streams are opened once the server's settings are known, so its limit on
  // concurrent streams holds the rest back client-side (as any HTTP/2 client does).
  const ready = Promise.all(
    sessions.map(
      (session) =>
        new Promise((resolveSettings, rejectSettings) => {
          session.once('remoteSettings', resolveSettings);
          session.once('close', () => {
            rejectSettings(new Error(`the connection to ${address} closed before the server's settings came`));
          });
        }),
    ),
  );
  let unread = 0;
  let reset = 0;
  const refused: Record<string, number> = {};
  const settled = ready.then(() => new Promise<SlowReaderOutcome>((resolveSettled) => {
    let pending = streams;
    const done = (): void => {
      pending--;
      if (pending === 0) resolveSettled({ unread, refused, reset });
    };
    for (let index = 0; index < streams; index++) {
      const session = sessions[index % connections] as ClientHttp2Session;
      const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
      let answered = false;
      stream.on('response', (headers) => {
        answered = true;
        const code = headers['grpc-status'];
        if (code === undefined) unread++;
        else refused[String(code)] = (refused[String(code)] ?? 0) + 1;
        done();
      });
      stream.on('error', () => undefined);
      stream.on('close', () => {
        if (answered) return;
        answered = true;
        reset++;
        done();
      });
      // Never read: the answer's bytes stay unacknowledged.
      stream.pause();
      stream.end(frame);
    }
  }));
  return {
    settled,
    close: () => {
      for (const session of sessions) session.destroy();
    },
  };
}

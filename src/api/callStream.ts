import type { ServerInterceptingCallInterface } from '@grpc/grpc-js';
import type { ServerHttp2Stream } from 'node:http2';

/**
 * The HTTP/2 stream under a server call. grpc-js has no public way to reset a
 * call whose answer is already being written (its sendStatus then only waits
 * for the bytes to drain), nor to tell whether a call ended with its trailers
 * or with a reset, so both are read from the stream, which grpc-js (1.14) keeps
 * in its innermost call object (`stream`), below the interceptors' calls (each
 * wrapping the next as `nextCall`). Undefined if that layout ever changes: the
 * tests of the unread-answer time limit and of the call metrics then fail.
 */
export function http2StreamOf(call: ServerInterceptingCallInterface): ServerHttp2Stream | undefined {
  let layer: unknown = call;
  for (let depth = 0; depth < MAX_INTERCEPTORS && typeof layer === 'object' && layer !== null; depth++) {
    if ('stream' in layer && isStream(layer.stream)) return layer.stream;
    layer = 'nextCall' in layer ? layer.nextCall : undefined;
  }
  return undefined;
}

/** More interceptors than the server has; bounds the walk. */
const MAX_INTERCEPTORS = 16;

function isStream(value: unknown): value is ServerHttp2Stream {
  return typeof value === 'object' && value !== null && 'respond' in value && 'close' in value && 'rstCode' in value;
}

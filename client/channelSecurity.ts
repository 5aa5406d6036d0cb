import { credentials, InterceptingCall, type ChannelCredentials, type Interceptor } from '@grpc/grpc-js';

/** TLS to the service: what the client trusts, and what it shows for mutual TLS. */
export interface ClientTlsOptions {
  /** PEM of the CA(s) that signed the service's certificate; the system's roots when absent. */
  readonly ca?: Buffer;
  /** Client certificate chain (PEM), for a service that asks for one (mutual TLS); with `key`. */
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** The name the service's certificate must carry, when it is not the host of the address (an IP, a tunnel). */
  readonly serverName?: string;
}

/** The channel credentials of `tls`: plaintext without it. */
export function channelCredentialsFor(tls: ClientTlsOptions | undefined): ChannelCredentials {
  if (tls === undefined) return credentials.createInsecure();
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new Error('a client certificate needs its key, and a key its certificate');
  return credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
}

/** Channel options for `serverName`: the name checked in the service's certificate, and the :authority sent. */
export function serverNameOptions(tls: ClientTlsOptions | undefined): Record<string, string> {
  const serverName = tls?.serverName;
  return serverName === undefined ? {} : { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName };
}

/**
 * Sends `authorization: Bearer <token>` with every call. An interceptor rather
 * than call credentials: grpc-js refuses call credentials on a plaintext
 * channel, and a service behind a mesh sidecar that encrypts the hop is
 * reached in plaintext.
 */
export function bearerTokenInterceptor(token: string): Interceptor {
  const value = `Bearer ${token}`;
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('authorization', value);
        next(metadata, listener);
      },
    });
}

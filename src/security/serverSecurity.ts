import { ServerCredentials, type ServerInterceptor } from '@grpc/grpc-js';
import type { Config } from '../config/config.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { authenticationInterceptor } from './authInterceptor.js';
import { BearerTokens } from './bearerTokens.js';
import { ReloadingCertificateProvider } from './certificateProvider.js';
import { FileReloader, readNamedFileSync } from './fileReloader.js';
import { parseTlsMaterial, tlsFiles } from './tlsMaterial.js';

/** What the gRPC listener is secured with: its credentials, the authentication interceptor, and the file reloading behind both. */
export interface ServerSecurity {
  readonly credentials: ServerCredentials;
  /** Undefined when every method is open. */
  readonly interceptor: ServerInterceptor | undefined;
  /** Starts re-reading the certificate and token files every FRAUD_TLS_RELOAD_SECONDS. */
  start(): void;
  stop(): void;
}

/**
 * Reads and checks the certificate and token files (a ConfigError names the
 * variable of a file that cannot be used: the service does not start), and
 * builds the credentials and the interceptor from them.
 */
export function createServerSecurity(config: Pick<Config, 'tls' | 'auth' | 'securityReloadMs'>, metrics: Metrics, logger: Logger): ServerSecurity {
  const { tls, auth } = config;
  let provider: ReloadingCertificateProvider | undefined;
  if (tls !== undefined) {
    const contents = tlsFiles(tls).map(readNamedFileSync);
    provider = new ReloadingCertificateProvider(parseTlsMaterial(contents, new Date()), tls, contents, config.securityReloadMs, metrics, logger);
  }
  let tokens: BearerTokens | undefined;
  let tokenReloader: FileReloader<BearerTokens> | undefined;
  if (auth.tokensFile !== undefined) {
    const file = { variable: 'FRAUD_AUTH_TOKENS_FILE', path: auth.tokensFile };
    const initial = readNamedFileSync(file);
    tokens = BearerTokens.parse(initial.toString('utf8'));
    metrics.authTokenReloads.labels('ok').inc(0);
    metrics.authTokenReloads.labels('error').inc(0);
    tokenReloader = new FileReloader({
      files: [file],
      intervalMs: config.securityReloadMs,
      initial: [initial],
      parse: ([content]) => BearerTokens.parse((content ?? Buffer.alloc(0)).toString('utf8')),
      onLoaded: (loaded) => {
        tokens = loaded;
        metrics.authTokenReloads.labels('ok').inc();
        logger.info({ tokens: loaded.size }, 'bearer tokens reloaded');
      },
      onRefused: (error) => {
        metrics.authTokenReloads.labels('error').inc();
        logger.error(`bearer token file refused, the last good tokens still apply: ${error.message}`);
      },
    });
  }
  if (auth.writes === 'open') {
    logger.warn('writes (ReportOutcome, ReportOutcomeBatch) are open to any caller: set FRAUD_AUTH_TOKENS_FILE or FRAUD_TLS_CLIENT_CA_FILE (FRAUD_AUTH_WRITES)');
  }
  if (tokens !== undefined && tls === undefined) {
    logger.warn('bearer tokens are checked on a plaintext listener: they cross the network readable unless a proxy or mesh encrypts it (set FRAUD_TLS_CERT_FILE and FRAUD_TLS_KEY_FILE)');
  }
  const open = auth.writes === 'open' && auth.reads === 'open';
  return {
    credentials: provider?.credentials() ?? ServerCredentials.createInsecure(),
    interceptor: open
      ? undefined
      : authenticationInterceptor({ writes: auth.writes, reads: auth.reads, tokens: () => tokens, clientNames: auth.clientNames }, metrics, logger),
    start() {
      provider?.start();
      tokenReloader?.start();
    },
    stop() {
      provider?.stop();
      tokenReloader?.stop();
    },
  };
}

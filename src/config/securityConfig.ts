import type { Config } from './config.js';
import { ConfigError, integer, oneOf, optionalPath, raw, seconds, type Env } from './envValues.js';

/** Server certificate and key (PEM files), and the CA of client certificates for mutual TLS. */
export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** Set: mutual TLS, every client presents a certificate this CA verifies. */
  readonly clientCaFile: string | undefined;
}

/** `authenticated`: a valid bearer token or a verified client certificate; `open`: anyone. */
export type AccessPolicy = 'open' | 'authenticated';

export interface AuthConfig {
  /** `<principal> <token>` per line; undefined: no bearer tokens. */
  readonly tokensFile: string | undefined;
  /** Client-certificate names (CN, DNS or URI SAN) allowed to write; empty: any verified certificate. */
  readonly clientNames: readonly string[];
  /** ReportOutcome, ReportOutcomeBatch. */
  readonly writes: AccessPolicy;
  /** Scoring calls, GetModelInfo and GetModelQuality. Health and reflection are always open. */
  readonly reads: AccessPolicy;
}

/**
 * TLS and who may call what. Only the names are checked here; the files are
 * read (and refused with a line naming the variable) when the service starts.
 */
export function securityConfig(env: Env): Pick<Config, 'tls' | 'auth' | 'securityReloadMs' | 'healthPort'> {
  const certFile = optionalPath(env, 'FRAUD_TLS_CERT_FILE');
  const keyFile = optionalPath(env, 'FRAUD_TLS_KEY_FILE');
  const clientCaFile = optionalPath(env, 'FRAUD_TLS_CLIENT_CA_FILE');
  if (certFile !== undefined && keyFile === undefined) throw new ConfigError('FRAUD_TLS_KEY_FILE', 'is required with FRAUD_TLS_CERT_FILE (the private key of that certificate)');
  if (keyFile !== undefined && certFile === undefined) throw new ConfigError('FRAUD_TLS_CERT_FILE', 'is required with FRAUD_TLS_KEY_FILE (the certificate of that key)');
  if (clientCaFile !== undefined && certFile === undefined) {
    throw new ConfigError('FRAUD_TLS_CLIENT_CA_FILE', 'needs TLS: set FRAUD_TLS_CERT_FILE and FRAUD_TLS_KEY_FILE too');
  }
  const tokensFile = optionalPath(env, 'FRAUD_AUTH_TOKENS_FILE');
  const clientNames = (raw(env, 'FRAUD_AUTH_CLIENT_NAMES') ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (clientNames.length > 0 && clientCaFile === undefined) {
    throw new ConfigError('FRAUD_AUTH_CLIENT_NAMES', 'names client certificates, which only mutual TLS checks: set FRAUD_TLS_CLIENT_CA_FILE');
  }
  const credentials = tokensFile !== undefined || clientCaFile !== undefined;
  const policies = ['open', 'authenticated'] as const;
  const writes = oneOf(env, 'FRAUD_AUTH_WRITES', credentials ? 'authenticated' : 'open', policies);
  const reads = oneOf(env, 'FRAUD_AUTH_READS', 'open', policies);
  for (const [name, policy] of [['FRAUD_AUTH_WRITES', writes], ['FRAUD_AUTH_READS', reads]] as const) {
    if (policy === 'authenticated' && !credentials) {
      throw new ConfigError(name, 'is authenticated, but no caller could authenticate: set FRAUD_AUTH_TOKENS_FILE or FRAUD_TLS_CLIENT_CA_FILE');
    }
  }
  if (reads === 'authenticated' && writes === 'open') {
    throw new ConfigError('FRAUD_AUTH_WRITES', 'is open while FRAUD_AUTH_READS is authenticated: writes change every later score, so they cannot be more open than reads');
  }
  return {
    tls: certFile === undefined || keyFile === undefined ? undefined : { certFile, keyFile, clientCaFile },
    auth: { tokensFile, clientNames, writes, reads },
    securityReloadMs: seconds(env, 'FRAUD_TLS_RELOAD_SECONDS', 60, 0.1, 86_400),
    healthPort: raw(env, 'FRAUD_HEALTH_PORT') === undefined ? undefined : integer(env, 'FRAUD_HEALTH_PORT', 0, 0, 65535),
  };
}

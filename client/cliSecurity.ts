import { readFileSync } from 'node:fs';
import type { ClientTlsOptions } from './channelSecurity.js';
import { UsageError, type Values } from './cliOptions.js';

/** What fraud-cli secures its connection with: TLS (from the --tls* options) and a bearer token. */
export interface CliSecurity {
  readonly tls: ClientTlsOptions | undefined;
  readonly token: string | undefined;
}

/**
 * Reads the --tls* and --token-file options (and FRAUD_TOKEN). A token is
 * taken from a file or the environment only, never from the command line,
 * where other users of the machine (ps) and the shell history would see it;
 * it is never printed.
 */
export function cliSecurity(values: Values, env: Readonly<Record<string, string | undefined>>): CliSecurity {
  const certFile = values['tls-cert-file'];
  const keyFile = values['tls-key-file'];
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--tls-cert-file and --tls-key-file go together (a client certificate and its key)');
  const caFile = values['tls-ca-file'];
  const serverName = values['tls-server-name'];
  const wantsTls = values.tls || caFile !== undefined || certFile !== undefined || serverName !== undefined;
  const tls: ClientTlsOptions | undefined = wantsTls
    ? {
        ca: caFile === undefined ? undefined : readOption(caFile, '--tls-ca-file'),
        cert: certFile === undefined ? undefined : readOption(certFile, '--tls-cert-file'),
        key: keyFile === undefined ? undefined : readOption(keyFile, '--tls-key-file'),
        serverName,
      }
    : undefined;
  const tokenFile = values['token-file'];
  // An empty FRAUD_TOKEN is no token; an empty token file is a mistake.
  const token = tokenFile === undefined ? env.FRAUD_TOKEN?.trim() || undefined : readOption(tokenFile, '--token-file').toString('utf8').trim();
  if (token !== undefined && (token === '' || /\s/.test(token))) {
    throw new UsageError(`${tokenFile === undefined ? 'FRAUD_TOKEN' : `--token-file ${tokenFile}`} must hold one bearer token (no spaces or line breaks)`);
  }
  return { tls, token };
}

function readOption(path: string, option: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`cannot read ${option} ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../config/envValues.js';
import { type TlsConfig } from '../config/securityConfig.js';
import type { NamedFile } from './fileReloader.js';

/** What the listener serves with, checked: the certificate chain, its key, and the client CA for mutual TLS. */
export interface TlsMaterial {
  readonly certificate: Buffer;
  readonly privateKey: Buffer;
  readonly clientCa: Buffer | undefined;
  /** The server certificate (the first of the chain). */
  readonly server: CertificateSummary;
  /** The client CA certificate that expires first. */
  readonly clientCaExpiry: Date | undefined;
}

export interface CertificateSummary {
  readonly subject: string;
  readonly serialNumber: string;
  readonly notAfter: Date;
}

/** The files of a TLS configuration, in the order `parseTlsMaterial` takes their contents. */
export function tlsFiles(config: TlsConfig): NamedFile[] {
  const files = [
    { variable: 'FRAUD_TLS_CERT_FILE', path: config.certFile },
    { variable: 'FRAUD_TLS_KEY_FILE', path: config.keyFile },
  ];
  if (config.clientCaFile !== undefined) files.push({ variable: 'FRAUD_TLS_CLIENT_CA_FILE', path: config.clientCaFile });
  return files;
}

/**
 * Checks what the files hold before anything is served with it: PEM
 * certificates, a private key that belongs to the server certificate, a
 * server certificate not expired at `now`, and a context Node's TLS accepts.
 * Each refusal is a ConfigError naming the variable of the file at fault.
 */
export function parseTlsMaterial(contents: readonly Buffer[], now: Date): TlsMaterial {
  const [certificate, privateKey, clientCa] = contents;
  if (certificate === undefined || privateKey === undefined) throw new Error('a certificate and a key are needed');
  const chain = certificatesIn(certificate, 'FRAUD_TLS_CERT_FILE');
  const leaf = chain[0] as X509Certificate;
  const key = parsePrivateKey(privateKey);
  if (!leaf.checkPrivateKey(key)) {
    throw new ConfigError('FRAUD_TLS_KEY_FILE', `is not the private key of the certificate in FRAUD_TLS_CERT_FILE (${leaf.subject.replaceAll('\n', ', ')})`);
  }
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime()) {
    throw new ConfigError('FRAUD_TLS_CERT_FILE', `the certificate expired on ${notAfter.toISOString()} (${leaf.subject.replaceAll('\n', ', ')}); renew it`);
  }
  const caCertificates = clientCa === undefined ? undefined : certificatesIn(clientCa, 'FRAUD_TLS_CLIENT_CA_FILE');
  try {
    createSecureContext({ cert: certificate, key: privateKey, ca: clientCa });
  } catch (error) {
    throw new ConfigError('FRAUD_TLS_CERT_FILE', `Node's TLS refuses the certificate, key or client CA: ${(error as Error).message}`);
  }
  return {
    certificate,
    privateKey,
    clientCa,
    server: { subject: leaf.subject.replaceAll('\n', ', '), serialNumber: leaf.serialNumber, notAfter },
    clientCaExpiry: caCertificates === undefined ? undefined : new Date(Math.min(...caCertificates.map((ca) => new Date(ca.validTo).getTime()))),
  };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

function certificatesIn(pem: Buffer, variable: string): X509Certificate[] {
  const blocks = pem.toString('utf8').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new ConfigError(variable, 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new ConfigError(variable, `certificate ${index + 1} cannot be read: ${(error as Error).message}`);
    }
  });
}

function parsePrivateKey(pem: Buffer): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (error) {
    // Never the key's text: only why it was refused.
    throw new ConfigError('FRAUD_TLS_KEY_FILE', `holds no usable PEM private key (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}); an encrypted key is not supported`);
  }
}

import { status } from '@grpc/grpc-js';
import type { FraudCallError } from './fraudClient.js';

/**
 * When a call failed because the TLS handshake did, what to do about it, in
 * one line naming the CLI's options; undefined for any other failure. grpc-js
 * says it inside its nested "No connection established. Last error: …" text.
 */
export function tlsFailure(error: FraudCallError): string | undefined {
  if (error.code !== status.UNAVAILABLE) return undefined;
  const cause = /Last error: (?:No connection established\. Last error: )?(.+?)(?:\s*\(\d{4}-[^)]*\))?\. Resolution note/s.exec(error.details)?.[1] ?? error.details;
  if (/ALTNAME|altnames/.test(cause)) return `the service's certificate does not carry the name dialled (${firstLine(cause)}); give the name it carries with --tls-server-name`;
  if (/alert (certificate required|unknown ca|bad certificate|certificate unknown|certificate expired)/i.test(cause)) {
    return 'the service wants a client certificate it trusts (mutual TLS): give one with --tls-cert-file and --tls-key-file';
  }
  if (/self-signed certificate|unable to (verify|get local issuer)|certificate has expired|CERT_/i.test(cause)) {
    return `the service's certificate is not trusted (${firstLine(cause).replace(/^Error: /, '')}); give the CA that signed it with --tls-ca-file`;
  }
  if (/wrong version number|packet length too long|SSL routines/i.test(cause)) return `the TLS handshake failed (${firstLine(cause)}); does the service speak TLS?`;
  return undefined;
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').trim();
}

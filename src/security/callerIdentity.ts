import type { PeerCertificate } from 'node:tls';

/**
 * The names a verified client certificate goes by: its subject CN, then its
 * DNS and URI subject alternative names (a SPIFFE id, say), in that order.
 */
export function certificateNames(certificate: PeerCertificate): string[] {
  const names: string[] = [];
  const commonName: unknown = certificate.subject.CN;
  if (typeof commonName === 'string' && commonName !== '') names.push(commonName);
  // Node writes the SANs as "DNS:a, URI:spiffe://…, IP Address:…", quoting a value that holds a comma.
  for (const entry of (certificate.subjectaltname ?? '').match(/(?:DNS|URI):(?:"(?:[^"\\]|\\.)*"|[^,]*)/g) ?? []) {
    const value = entry.slice(entry.indexOf(':') + 1).trim();
    names.push(value.startsWith('"') ? (JSON.parse(value) as string) : value);
  }
  return names;
}

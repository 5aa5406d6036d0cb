import { createHash, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../config/envValues.js';

/** Shorter tokens are refused: a bearer token is a password that travels with every call. */
export const MIN_TOKEN_CHARACTERS = 16;

/** RFC 6750's b64token: what an `authorization: Bearer …` header can carry. */
const TOKEN_SYNTAX = /^[A-Za-z0-9\-._~+/]+=*$/;

interface Entry {
  readonly principal: string;
  readonly digest: Buffer;
}

/**
 * The bearer tokens of FRAUD_AUTH_TOKENS_FILE: `<principal> <token>` per
 * line, `#` comments and blank lines ignored; a principal may have several
 * tokens (the old and the new during a rotation). Only SHA-256 digests are
 * kept, and a presented token is compared with every one of them in constant
 * time, so neither the answer's timing nor a memory dump gives a token away.
 */
export class BearerTokens {
  private constructor(private readonly entries: readonly Entry[]) {}

  /** Parses the file's text; a ConfigError names the line (never its token). */
  static parse(text: string): BearerTokens {
    const entries: Entry[] = [];
    const seen = new Map<string, number>();
    text.split(/\r?\n/).forEach((line, index) => {
      const content = line.trim();
      if (content === '' || content.startsWith('#')) return;
      const where = `line ${index + 1}`;
      const fields = content.split(/\s+/);
      const [principal, token] = fields;
      if (fields.length !== 2 || principal === undefined || token === undefined) {
        throw new ConfigError('FRAUD_AUTH_TOKENS_FILE', `${where}: expected "<principal> <token>"`);
      }
      if (!TOKEN_SYNTAX.test(token)) throw new ConfigError('FRAUD_AUTH_TOKENS_FILE', `${where}: the token of ${principal} has characters a bearer token cannot carry`);
      if (token.length < MIN_TOKEN_CHARACTERS) {
        throw new ConfigError('FRAUD_AUTH_TOKENS_FILE', `${where}: the token of ${principal} is shorter than ${MIN_TOKEN_CHARACTERS} characters`);
      }
      const digest = digestOf(token);
      const earlier = seen.get(digest.toString('hex'));
      if (earlier !== undefined) throw new ConfigError('FRAUD_AUTH_TOKENS_FILE', `${where}: the same token as line ${earlier}`);
      seen.set(digest.toString('hex'), index + 1);
      entries.push({ principal, digest });
    });
    if (entries.length === 0) throw new ConfigError('FRAUD_AUTH_TOKENS_FILE', 'holds no tokens ("<principal> <token>" per line)');
    return new BearerTokens(entries);
  }

  get size(): number {
    return this.entries.length;
  }

  /** The principal a token belongs to, or undefined; every entry is compared, whatever matches. */
  principalOf(token: string): string | undefined {
    const digest = digestOf(token);
    let principal: string | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, digest)) principal ??= entry.principal;
    }
    return principal;
  }
}

function digestOf(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

import { resolve } from 'node:path';

// How one environment variable is read and checked: every refusal is a ConfigError,
// one line naming the variable.

/** A setting that cannot be used; `message` is one line naming the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * A value as it may be shown in an error: any user:password@ part of a URL is
 * masked, so a secret put in the wrong place never reaches a log.
 */
export function shown(value: string): string {
  return JSON.stringify(value.replace(/(\/\/)[^/@\s]*@/, '$1***@'));
}

export function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function text(env: Env, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

export function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!/^-?\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** A number of seconds (fractions allowed), returned in milliseconds. */
export function seconds(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback * 1000;
  const parsed = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || parsed < min || parsed > max) {
    throw new ConfigError(name, `must be a number of seconds from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return Math.round(parsed * 1000);
}

export function fraction(env: Env, name: string, fallback: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || parsed > 1) {
    throw new ConfigError(name, `must be a number from 0 to 1, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

export function boolean(env: Env, name: string, fallback: boolean): boolean {
  const value = raw(env, name)?.toLowerCase();
  if (value === undefined) return fallback;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new ConfigError(name, `must be true or false, got ${JSON.stringify(value)}`);
}

export function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const match = allowed.find((candidate) => candidate === value.toLowerCase());
  if (match === undefined) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return match;
}

export function optionalPath(env: Env, name: string): string | undefined {
  const value = raw(env, name);
  return value === undefined ? undefined : resolve(value);
}

/** A URL of one of `schemes` (e.g. `http`, `https`; `what` names them), or undefined when the variable is unset. */
export function optionalUrl(env: Env, name: string, schemes: readonly string[], what: string): URL | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  const refusal = `must be ${what}, got ${shown(value)}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, refusal);
  }
  if (!schemes.some((scheme) => url.protocol === `${scheme}:`)) throw new ConfigError(name, refusal);
  return url;
}

export function optionalHttpUrl(env: Env, name: string): string | undefined {
  const url = optionalUrl(env, name, ['http', 'https'], 'an http:// or https:// URL');
  if (url === undefined) return undefined;
  if (url.username !== '' || url.password !== '') {
    // Credentials come from the AWS provider chain, never from a URL that ends up in logs.
    throw new ConfigError(name, 'must not hold credentials; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  }
  return url.toString().replace(/\/$/, '');
}

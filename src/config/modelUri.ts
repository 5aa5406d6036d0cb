import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, raw, shown, type Env } from './envValues.js';

/**
 * A model manifest location: `s3://bucket/key.json` or `file:///path.json`; a
 * plain path is a local file, relative to the working directory.
 */
export function modelUri(env: Env, name: string, fallbackPath: string): URL {
  return optionalModelUri(env, name) ?? pathToFileURL(fallbackPath);
}

/** The same forms as modelUri, or undefined when the variable is not set. */
export function optionalModelUri(env: Env, name: string): URL | undefined {
  const value = raw(env, name);
  const allowed = 'must be s3://<bucket>/<key>.json, file:///<path>.json or a path to a manifest .json';
  if (value === undefined) return undefined;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    if (!value.endsWith('.json')) throw new ConfigError(name, `${allowed}, got ${shown(value)}`);
    return pathToFileURL(isAbsolute(value) ? value : resolve(value));
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, `${allowed}, got ${shown(value)}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new ConfigError(name, 'must not hold credentials; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  }
  if (url.protocol === 's3:') {
    const key = decodeURIComponent(url.pathname.replace(/^\//, ''));
    if (url.hostname === '' || key === '' || !key.endsWith('.json')) throw new ConfigError(name, `${allowed}, got ${shown(value)}`);
    return url;
  }
  if (url.protocol === 'file:' && url.pathname.endsWith('.json')) return url;
  throw new ConfigError(name, `${allowed}, got ${shown(value)}`);
}


import { accessSync, constants } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from './envValues.js';

/**
 * Tracing settings, from the standard OpenTelemetry variables
 * (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
 *
 * Tracing is off unless OTEL_TRACES_EXPORTER names an exporter: the SDK's own
 * default (otlp to localhost:4318 when nothing is set) would have every
 * replica try to export to a collector nobody configured. An OTLP endpoint
 * without OTEL_TRACES_EXPORTER leaves it off too (see `ignoredOtlpEndpoint`).
 *
 * Values the SDK would warn about through its diagnostics logger (silent by
 * default) and then ignore or replace are refused here instead, with one line
 * naming the variable. Exporter headers, compression and TLS files
 * (OTEL_EXPORTER_OTLP_[TRACES_]HEADERS, _COMPRESSION, _INSECURE,
 * _CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY) are read by the exporter
 * itself, and checked here only (headers may hold credentials: their values
 * are never repeated).
 */

export type TraceExporterKind = 'otlp' | 'console';
export type OtlpProtocol = 'grpc' | 'http/protobuf' | 'http/json';
export type SamplerKind = (typeof SAMPLERS)[number];

export interface TracingConfig {
  /** Where spans go: an OTLP collector, the log (one JSON line per span), or both. */
  readonly exporters: readonly TraceExporterKind[];
  readonly protocol: OtlpProtocol;
  /** The OTLP traces endpoint as the exporter uses it (…/v1/traces over HTTP). */
  readonly endpoint: string;
  /** Longest wait for the collector per export, retries included. */
  readonly exportTimeoutMs: number;
  readonly sampler: SamplerKind;
  /** The fraction of new traces sampled by the ratio samplers (OTEL_TRACES_SAMPLER_ARG). */
  readonly samplerRatio: number;
  /** W3C trace context is taken from the caller's metadata, unless OTEL_PROPAGATORS=none. */
  readonly propagate: boolean;
  /** Resource attributes, service.name included. */
  readonly resource: Readonly<Record<string, string>>;
  /** The batch span processor: a bounded queue, exported in the background. */
  readonly batch: {
    readonly maxQueueSize: number;
    readonly maxExportBatchSize: number;
    readonly scheduledDelayMs: number;
    readonly exportTimeoutMs: number;
  };
}

/** The OTEL_* variables the service reads (README's configuration table lists each). */
export const TRACING_VARIABLES = [
  'OTEL_SDK_DISABLED',
  'OTEL_TRACES_EXPORTER',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TIMEOUT',
  'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
  'OTEL_PROPAGATORS',
  'OTEL_BSP_MAX_QUEUE_SIZE',
  'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
  'OTEL_BSP_SCHEDULE_DELAY',
  'OTEL_BSP_EXPORT_TIMEOUT',
  ...['', 'TRACES_'].flatMap((signal) =>
    ['HEADERS', 'COMPRESSION', 'INSECURE', 'CERTIFICATE', 'CLIENT_CERTIFICATE', 'CLIENT_KEY'].map((name) => `OTEL_EXPORTER_OTLP_${signal}${name}`),
  ),
] as const;

/** service.name when neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES names one (the log's `service`). */
export const DEFAULT_SERVICE_NAME = 'fraud-scoring';

const SERVICE_NAME = 'service.name';
const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;
const PROTOCOLS: readonly OtlpProtocol[] = ['grpc', 'http/protobuf', 'http/json'];
const EXPORTERS: readonly TraceExporterKind[] = ['otlp', 'console'];

type Env = Readonly<Record<string, string | undefined>>;

/** The tracing settings, or undefined when tracing is off. */
export function tracingConfig(env: Env): TracingConfig | undefined {
  const exporters = traceExporters(env);
  if (exporters.length === 0 || flag(env, 'OTEL_SDK_DISABLED')) return undefined;
  const protocol = oneOf(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', undefined, PROTOCOLS) ?? oneOf(env, 'OTEL_EXPORTER_OTLP_PROTOCOL', 'http/protobuf', PROTOCOLS);
  const sampler = oneOf(env, 'OTEL_TRACES_SAMPLER', 'parentbased_always_on', SAMPLERS);
  const maxQueueSize = integer(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048, 1, 1_000_000);
  const maxExportBatchSize = integer(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', Math.min(512, maxQueueSize), 1, 1_000_000);
  if (maxExportBatchSize > maxQueueSize) {
    throw new ConfigError('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', `must be at most OTEL_BSP_MAX_QUEUE_SIZE (${maxQueueSize}), got ${maxExportBatchSize}`);
  }
  if (exporters.includes('otlp')) checkExporterVariables(env);
  return {
    exporters,
    protocol,
    endpoint: tracesEndpoint(env, protocol),
    exportTimeoutMs: integer(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', integer(env, 'OTEL_EXPORTER_OTLP_TIMEOUT', 10_000, 1, 3_600_000), 1, 3_600_000),
    sampler,
    samplerRatio: sampler.endsWith('traceidratio') ? ratio(env, 'OTEL_TRACES_SAMPLER_ARG') : 1,
    propagate: propagators(env),
    resource: resource(env),
    batch: {
      maxQueueSize,
      maxExportBatchSize,
      scheduledDelayMs: integer(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000, 0, 3_600_000),
      exportTimeoutMs: integer(env, 'OTEL_BSP_EXPORT_TIMEOUT', 30_000, 1, 3_600_000),
    },
  };
}

/**
 * The OTLP endpoint variable set while tracing is off (no OTEL_TRACES_EXPORTER):
 * probably meant to turn it on, so worth a warning at start.
 */
export function ignoredOtlpEndpoint(env: Env): string | undefined {
  if (traceExporters(env).length > 0) return undefined;
  return ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT'].find((name) => raw(env, name) !== undefined);
}

/** OTEL_TRACES_EXPORTER: a comma list of otlp and console; unset, empty or `none`: none. */
function traceExporters(env: Env): TraceExporterKind[] {
  const value = raw(env, 'OTEL_TRACES_EXPORTER');
  if (value === undefined) return [];
  const names = [...new Set(value.split(',').map((name) => name.trim().toLowerCase()))].filter((name) => name !== '');
  if (names.length === 1 && names[0] === 'none') return [];
  const exporters: TraceExporterKind[] = [];
  for (const name of names) {
    const known = EXPORTERS.find((exporter) => exporter === name);
    if (known === undefined) {
      throw new ConfigError('OTEL_TRACES_EXPORTER', `must be otlp, console, both (otlp,console) or none, got ${JSON.stringify(value)}`);
    }
    exporters.push(known);
  }
  return exporters;
}

/**
 * The signal-specific endpoint is used as it is; the general one is a base
 * URL that HTTP exporters append v1/traces to (the specification's rule).
 */
function tracesEndpoint(env: Env, protocol: OtlpProtocol): string {
  const specific = url(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (specific !== undefined) return specific;
  const base = url(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') ?? (protocol === 'grpc' ? 'http://localhost:4317' : 'http://localhost:4318');
  if (protocol === 'grpc') return base;
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * The variables the OTLP exporter reads itself, which it would otherwise
 * ignore with a silent diagnostic: malformed headers dropped, an unknown
 * compression or an unreadable certificate file replaced by a default.
 */
function checkExporterVariables(env: Env): void {
  for (const signal of ['', 'TRACES_']) {
    const prefix = `OTEL_EXPORTER_OTLP_${signal}`;
    oneOf(env, `${prefix}COMPRESSION`, undefined, ['gzip', 'none']);
    flag(env, `${prefix}INSECURE`);
    headers(env, `${prefix}HEADERS`);
    for (const file of ['CERTIFICATE', 'CLIENT_CERTIFICATE', 'CLIENT_KEY']) readableFile(env, `${prefix}${file}`);
  }
}

/** `key=value,…` with values percent-encoded; the values (credentials, often) are never shown. */
function headers(env: Env, name: string): void {
  const list = raw(env, name);
  if (list === undefined) return;
  list.split(',').forEach((pair, index) => {
    if (pair.trim() === '') return;
    const equals = pair.indexOf('=');
    let decoded = true;
    try {
      decodeURIComponent(pair.slice(equals + 1));
    } catch {
      decoded = false;
    }
    if (equals <= 0 || pair.slice(0, equals).trim() === '' || !decoded) {
      throw new ConfigError(name, `must be key=value pairs separated by commas (values percent-encoded); entry ${index + 1} is not`);
    }
  });
}

function readableFile(env: Env, name: string): void {
  const path = raw(env, name);
  if (path === undefined) return;
  try {
    accessSync(resolve(path), constants.R_OK);
  } catch {
    throw new ConfigError(name, `cannot read ${JSON.stringify(path)}`);
  }
}

function propagators(env: Env): boolean {
  const value = raw(env, 'OTEL_PROPAGATORS');
  if (value === undefined) return true;
  const names = value.split(',').map((name) => name.trim().toLowerCase());
  if (names.every((name) => name === 'tracecontext')) return true;
  if (names.every((name) => name === 'none')) return false;
  throw new ConfigError('OTEL_PROPAGATORS', `must be tracecontext (W3C trace context, the default) or none, got ${JSON.stringify(value)}`);
}

/** OTEL_RESOURCE_ATTRIBUTES (`key=value,…`, values percent-encoded), then OTEL_SERVICE_NAME. */
function resource(env: Env): Record<string, string> {
  // service.name (ATTR_SERVICE_NAME of the semantic conventions, not loaded here: configuration loads no OpenTelemetry code).
  const attributes: Record<string, string> = { [SERVICE_NAME]: DEFAULT_SERVICE_NAME };
  const list = raw(env, 'OTEL_RESOURCE_ATTRIBUTES');
  if (list !== undefined) {
    for (const pair of list.split(',')) {
      if (pair.trim() === '') continue;
      const equals = pair.indexOf('=');
      const key = equals < 0 ? '' : pair.slice(0, equals).trim();
      let value: string | undefined;
      try {
        value = equals < 0 ? undefined : decodeURIComponent(pair.slice(equals + 1).trim());
      } catch {
        value = undefined;
      }
      if (key === '' || value === undefined) {
        throw new ConfigError('OTEL_RESOURCE_ATTRIBUTES', `must be key=value pairs separated by commas (values percent-encoded), got ${JSON.stringify(pair.trim())}`);
      }
      attributes[key] = value;
    }
  }
  const serviceName = raw(env, 'OTEL_SERVICE_NAME');
  if (serviceName !== undefined) attributes[SERVICE_NAME] = serviceName;
  return attributes;
}

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function flag(env: Env, name: string): boolean {
  const value = raw(env, name)?.toLowerCase();
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw new ConfigError(name, `must be true or false, got ${JSON.stringify(value)}`);
}

function oneOf<T extends string, F extends T | undefined>(env: Env, name: string, fallback: F, allowed: readonly T[]): T | F {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const match = allowed.find((candidate) => candidate === value.toLowerCase());
  if (match === undefined) throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return match;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

function ratio(env: Env, name: string): number {
  const value = raw(env, name);
  if (value === undefined) return 1;
  const parsed = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || parsed > 1) throw new ConfigError(name, `must be a number from 0 to 1 with a ratio sampler, got ${JSON.stringify(value)}`);
  return parsed;
}

/** An http:// or https:// URL; credentials in it would reach logs, so they are refused (headers carry them). */
function url(env: Env, name: string): string | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(value);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new ConfigError(name, `must be an http:// or https:// URL, got ${JSON.stringify(value.replace(/(\/\/)[^/@\s]*@/, '$1***@'))}`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new ConfigError(name, 'must not hold credentials; put them in OTEL_EXPORTER_OTLP_HEADERS');
  }
  return value;
}

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/envValues.js';
import { loadConfig } from '../../src/config/config.js';
import { ignoredOtlpEndpoint, TRACING_VARIABLES, tracingConfig } from '../../src/config/tracingConfig.js';
import { packageRoot } from '../../src/packageRoot.js';

const ON = { OTEL_TRACES_EXPORTER: 'otlp' };

function refusal(env: Record<string, string>): ConfigError {
  try {
    tracingConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('the configuration was accepted');
}

describe('tracing configuration (OTEL_* variables)', () => {
  it('should be off when nothing is set, although the SDK would default to otlp on localhost:4318', () => {
    assert.equal(tracingConfig({}), undefined);
    assert.equal(loadConfig({}).tracing, undefined);
  });

  it('should stay off with an endpoint alone, and say which variable was ignored', () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    assert.equal(tracingConfig(env), undefined);
    assert.equal(ignoredOtlpEndpoint(env), 'OTEL_EXPORTER_OTLP_ENDPOINT');
    assert.equal(ignoredOtlpEndpoint({ ...env, ...ON }), undefined);
    assert.equal(ignoredOtlpEndpoint({}), undefined);
  });

  it('should be off with OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true', () => {
    assert.equal(tracingConfig({ OTEL_TRACES_EXPORTER: 'none' }), undefined);
    assert.equal(tracingConfig({ ...ON, OTEL_SDK_DISABLED: 'true' }), undefined);
    assert.notEqual(tracingConfig({ ...ON, OTEL_SDK_DISABLED: 'false' }), undefined);
  });

  it('should turn on with OTEL_TRACES_EXPORTER=otlp, with the specification defaults', () => {
    assert.deepEqual(tracingConfig(ON), {
      exporters: ['otlp'],
      protocol: 'http/protobuf',
      endpoint: 'http://localhost:4318/v1/traces',
      exportTimeoutMs: 10_000,
      sampler: 'parentbased_always_on',
      samplerRatio: 1,
      propagate: true,
      resource: { 'service.name': 'fraud-scoring' },
      batch: { maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMs: 5000, exportTimeoutMs: 30_000 },
    });
    assert.deepEqual(tracingConfig({ OTEL_TRACES_EXPORTER: 'console, otlp' })?.exporters, ['console', 'otlp']);
  });

  it('should append v1/traces to the general endpoint over HTTP only, and take the traces endpoint as it is', () => {
    assert.equal(tracingConfig({ ...ON, OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example:4318/' })?.endpoint, 'https://otel.example:4318/v1/traces');
    assert.equal(tracingConfig({ ...ON, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })?.endpoint, 'http://c:4317');
    assert.equal(tracingConfig({ ...ON, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })?.endpoint, 'http://localhost:4317');
    const both = { ...ON, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://general:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4318/custom' };
    assert.equal(tracingConfig(both)?.endpoint, 'http://traces:4318/custom');
  });

  it('should prefer the traces-specific protocol and timeout to the general ones', () => {
    const config = tracingConfig({
      ...ON,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
      OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '3000',
    });
    assert.equal(config?.protocol, 'http/json');
    assert.equal(config.exportTimeoutMs, 3000);
    assert.equal(tracingConfig({ ...ON, OTEL_EXPORTER_OTLP_TIMEOUT: '2000' })?.exportTimeoutMs, 2000);
  });

  it('should read the sampler and its ratio', () => {
    const config = tracingConfig({ ...ON, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' });
    assert.equal(config?.sampler, 'parentbased_traceidratio');
    assert.equal(config.samplerRatio, 0.25);
    // The argument means nothing to the other samplers.
    assert.equal(tracingConfig({ ...ON, OTEL_TRACES_SAMPLER: 'always_on', OTEL_TRACES_SAMPLER_ARG: 'x' })?.samplerRatio, 1);
  });

  it('should read the resource: OTEL_SERVICE_NAME over service.name in OTEL_RESOURCE_ATTRIBUTES, values percent-decoded', () => {
    const env = { ...ON, OTEL_RESOURCE_ATTRIBUTES: 'service.name=a,k8s.namespace.name=risk,team=risk%20ops' };
    assert.deepEqual(tracingConfig(env)?.resource, { 'service.name': 'a', 'k8s.namespace.name': 'risk', team: 'risk ops' });
    assert.equal(tracingConfig({ ...env, OTEL_SERVICE_NAME: 'scoring-eu' })?.resource['service.name'], 'scoring-eu');
  });

  it('should refuse values the SDK would only warn about, naming the variable', () => {
    const cases: [Record<string, string>, string][] = [
      [{ OTEL_TRACES_EXPORTER: 'jaeger' }, 'OTEL_TRACES_EXPORTER'],
      [{ OTEL_TRACES_EXPORTER: 'otlp,none' }, 'OTEL_TRACES_EXPORTER'],
      [{ ...ON, OTEL_EXPORTER_OTLP_PROTOCOL: 'http' }, 'OTEL_EXPORTER_OTLP_PROTOCOL'],
      [{ ...ON, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'json' }, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'],
      [{ ...ON, OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT'],
      [{ ...ON, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://collector' }, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'],
      [{ ...ON, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://user:secret@collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT'],
      [{ ...ON, OTEL_TRACES_SAMPLER: 'parentbased_jaeger_remote' }, 'OTEL_TRACES_SAMPLER'],
      [{ ...ON, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' }, 'OTEL_TRACES_SAMPLER_ARG'],
      [{ ...ON, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: 'half' }, 'OTEL_TRACES_SAMPLER_ARG'],
      [{ ...ON, OTEL_RESOURCE_ATTRIBUTES: 'team' }, 'OTEL_RESOURCE_ATTRIBUTES'],
      [{ ...ON, OTEL_RESOURCE_ATTRIBUTES: 'team=%E0%A4%A' }, 'OTEL_RESOURCE_ATTRIBUTES'],
      [{ ...ON, OTEL_PROPAGATORS: 'b3' }, 'OTEL_PROPAGATORS'],
      [{ ...ON, OTEL_BSP_MAX_QUEUE_SIZE: '0' }, 'OTEL_BSP_MAX_QUEUE_SIZE'],
      [{ ...ON, OTEL_BSP_MAX_QUEUE_SIZE: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '200' }, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE'],
      [{ ...ON, OTEL_BSP_SCHEDULE_DELAY: '5s' }, 'OTEL_BSP_SCHEDULE_DELAY'],
      [{ ...ON, OTEL_EXPORTER_OTLP_TIMEOUT: '-1' }, 'OTEL_EXPORTER_OTLP_TIMEOUT'],
      [{ ...ON, OTEL_SDK_DISABLED: 'yes' }, 'OTEL_SDK_DISABLED'],
      [{ ...ON, OTEL_EXPORTER_OTLP_HEADERS: 'api-key=secret,broken' }, 'OTEL_EXPORTER_OTLP_HEADERS'],
      [{ ...ON, OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'api-key=%E0%A4%Asecret' }, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'],
      [{ ...ON, OTEL_EXPORTER_OTLP_COMPRESSION: 'zstd' }, 'OTEL_EXPORTER_OTLP_COMPRESSION'],
      [{ ...ON, OTEL_EXPORTER_OTLP_TRACES_INSECURE: 'yes' }, 'OTEL_EXPORTER_OTLP_TRACES_INSECURE'],
      [{ ...ON, OTEL_EXPORTER_OTLP_CERTIFICATE: '/nonexistent/ca.pem' }, 'OTEL_EXPORTER_OTLP_CERTIFICATE'],
      [{ ...ON, OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY: '/nonexistent/client.key' }, 'OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY'],
    ];
    for (const [env, variable] of cases) {
      const error = refusal(env);
      assert.equal(error.variable, variable, JSON.stringify(env));
      assert.ok(error.message.startsWith(`${variable}: `), error.message);
      assert.ok(!error.message.includes('\n'), 'one line');
      assert.ok(!error.message.includes('secret'), 'credentials are not repeated');
    }
  });

  it("should accept the exporter's own variables when well formed", () => {
    const env = {
      ...ON,
      OTEL_EXPORTER_OTLP_HEADERS: 'api-key=s3cr%3Dt,x-tenant=risk',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_INSECURE: 'false',
      OTEL_EXPORTER_OTLP_CERTIFICATE: 'package.json',
    };
    assert.notEqual(tracingConfig(env), undefined);
    // The console exporter reads none of them.
    assert.notEqual(tracingConfig({ OTEL_TRACES_EXPORTER: 'console', OTEL_EXPORTER_OTLP_COMPRESSION: 'zstd' }), undefined);
  });

  it('should check nothing but OTEL_TRACES_EXPORTER while tracing is off', () => {
    assert.equal(tracingConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http', OTEL_TRACES_SAMPLER: 'x' }), undefined);
  });

  it('should take W3C trace context from callers unless OTEL_PROPAGATORS=none', () => {
    assert.equal(tracingConfig({ ...ON, OTEL_PROPAGATORS: 'tracecontext' })?.propagate, true);
    assert.equal(tracingConfig({ ...ON, OTEL_PROPAGATORS: 'none' })?.propagate, false);
  });

  it('should document every OTEL_* variable it reads in docs/configuration.md', () => {
    const documentation = readFileSync(join(packageRoot, 'docs', 'configuration.md'), 'utf8');
    const tracing = documentation.slice(documentation.indexOf('### Tracing (OpenTelemetry)'));
    const documented = new Set(tracing.match(/`OTEL_[A-Z_]+`/g)?.map((name) => name.slice(1, -1)));
    assert.deepEqual([...documented].sort(), [...TRACING_VARIABLES].sort());
  });
});

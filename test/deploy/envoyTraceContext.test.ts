import assert from 'node:assert/strict';
import { envoyConfigOf, renderChart } from './chart.js';
import { connectionManager, listener, type Bootstrap } from './envoyBootstrap.js';

/**
 * A REST caller's trace context reaches the service only if the Envoy sidecar
 * passes its traceparent and tracestate headers on unchanged: the transcoder
 * keeps request headers as gRPC metadata, and an Envoy without a tracing
 * provider leaves trace headers alone. What would break it: a `tracing` block
 * (Envoy would start its own spans and rewrite traceparent), a filter between
 * the transcoder and the router, or headers removed on the way.
 */
describe('the Envoy sidecar and trace context', () => {
  let config: Bootstrap;
  before(async () => {
    config = envoyConfigOf(await renderChart()) as Bootstrap;
  });

  it('should pass traceparent and tracestate from REST callers on to the service as metadata', () => {
    const rest = connectionManager(listener(config, 'rest')) as unknown as Record<string, unknown>;
    assert.equal(rest.tracing, undefined, 'a tracing block would make Envoy rewrite traceparent');
    assert.deepEqual(
      connectionManager(listener(config, 'rest')).http_filters.map((filter) => filter.name),
      ['envoy.filters.http.grpc_json_transcoder', 'envoy.filters.http.router'],
    );
    const text = JSON.stringify(config);
    assert.ok(!text.includes('request_headers_to_remove'), 'no request headers removed');
    assert.ok(!/traceparent|tracestate/i.test(text), 'no rule about the trace headers');
  });
});

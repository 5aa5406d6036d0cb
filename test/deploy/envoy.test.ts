import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { packageRoot } from '../../src/packageRoot.js';
import { CHART, container, envoyConfigOf, only, renderChart, type K8sObject } from './chart.js';
import { servicesDeclaredUnder } from './descriptorSet.js';
import { cluster, connectionManager, endpoints, listener, transcoder, type Bootstrap, type Route } from './envoyBootstrap.js';

const COMPOSE_DIR = join(packageRoot, 'deploy', 'compose');

describe('the Envoy sidecar configuration rendered by the chart', () => {
  let objects: K8sObject[];
  let config: Bootstrap;
  before(async () => {
    objects = await renderChart();
    config = envoyConfigOf(objects) as Bootstrap;
  });

  it('should transcode exactly the services proto/fraud defines (fraud.v1.FraudService)', async () => {
    const descriptor = await readFile(join(CHART, 'files', 'fraud.binpb'));
    const defined = servicesDeclaredUnder(descriptor, 'fraud/');
    assert.deepEqual(defined, ['fraud.v1.FraudService']);
    assert.deepEqual(transcoder(connectionManager(listener(config, 'rest'))).services, defined);
  });

  it("should answer with the original service's snake_case keys, zero values included", () => {
    assert.deepEqual(transcoder(connectionManager(listener(config, 'rest'))).print_options, {
      add_whitespace: false,
      always_print_primitive_fields: true,
      always_print_enums_as_ints: false,
      preserve_proto_field_names: true,
    });
  });

  it('should turn gRPC errors into HTTP statuses with JSON details, and unknown routes into 404', () => {
    const rest = transcoder(connectionManager(listener(config, 'rest')));
    assert.equal(rest.convert_grpc_status, true);
    assert.equal(rest.request_validation_options?.reject_unknown_method, true);
  });

  it('should bound request bodies (413 above the limit) and every stage of a request in time', () => {
    const manager = connectionManager(listener(config, 'rest'));
    const rest = transcoder(manager);
    assert.equal(rest.max_request_body_size, 4 * 1024 * 1024);
    assert.ok(rest.max_response_body_size !== undefined && rest.max_response_body_size > 0);
    assert.ok(manager.request_timeout !== undefined && manager.stream_idle_timeout !== undefined);
    const routes = manager.route_config.virtual_hosts.flatMap((host) => host.routes);
    assert.ok(routes.every((route) => route.route?.timeout !== undefined), 'every route needs a timeout');
  });

  it('should run the transcoder before the router, and route everything to the service over HTTP/2 on 127.0.0.1:50051', () => {
    const manager = connectionManager(listener(config, 'rest'));
    assert.deepEqual(
      manager.http_filters.map((filter) => filter.name),
      ['envoy.filters.http.grpc_json_transcoder', 'envoy.filters.http.router'],
    );
    assert.deepEqual(manager.route_config.virtual_hosts[0]?.routes.map((route) => [route.match.prefix, route.route?.cluster]), [['/', 'fraud_scoring']]);
    const upstream = cluster(config, 'fraud_scoring');
    assert.deepEqual(endpoints(upstream), ['127.0.0.1:50051']);
    assert.deepEqual(upstream.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']?.explicit_http_config, { http2_protocol_options: {} });
  });

  it('should listen for REST on 8080 and keep the admin API on 127.0.0.1', () => {
    assert.equal(listener(config, 'rest').address.socket_address.port_value, 8080);
    assert.equal(config.admin.address.socket_address.address, '127.0.0.1');
  });

  it('should let the kubelet reach only GET /ready and GET /stats/prometheus of the admin API, through the probe listener', () => {
    const routes: Route[] = connectionManager(listener(config, 'probes')).route_config.virtual_hosts.flatMap((host) => host.routes);
    const toAdmin = routes.filter((route) => route.route?.cluster === 'envoy_admin');
    assert.deepEqual(toAdmin.map((route) => route.match.path), ['/ready', '/stats/prometheus']);
    for (const route of toAdmin) assert.deepEqual(route.match.headers, [{ name: ':method', string_match: { exact: 'GET' } }]);
    assert.deepEqual(routes.at(-1), { match: { prefix: '/' }, direct_response: { status: 404 } });
    assert.deepEqual(endpoints(cluster(config, 'envoy_admin')), [`127.0.0.1:${config.admin.address.socket_address.port_value}`]);
    const probePort = listener(config, 'probes').address.socket_address.port_value;
    const envoy = container(only(objects, 'Deployment'), 'envoy');
    assert.equal(envoy.ports?.find((port) => port.name === 'envoy-probe')?.containerPort, probePort);
    assert.deepEqual(envoy.readinessProbe?.httpGet, { path: '/ready', port: 'envoy-probe' });
  });

  it('should read the descriptor where the Deployment mounts the descriptor ConfigMap', () => {
    const path = transcoder(connectionManager(listener(config, 'rest'))).proto_descriptor ?? '';
    const deployment = only(objects, 'Deployment');
    const mount = container(deployment, 'envoy').volumeMounts?.find((candidate) => path.startsWith(`${candidate.mountPath}/`));
    assert.ok(mount !== undefined, `nothing is mounted at ${path}`);
    const volume = deployment.spec.template.spec.volumes?.find((candidate) => candidate.name === mount.name);
    const configMap = only(objects, 'ConfigMap', '-descriptor');
    assert.equal(volume?.configMap?.name, configMap.metadata.name);
    assert.ok(configMap.binaryData?.[path.slice(mount.mountPath.length + 1)] !== undefined);
  });

  it('should roll the pods when the Envoy configuration changes (checksum/config)', async () => {
    const annotation = (rendered: K8sObject[]): string | undefined => only(rendered, 'Deployment').spec.template.metadata.annotations?.['checksum/config'];
    const before = annotation(objects);
    assert.match(before ?? '', /^[0-9a-f]{64}$/);
    assert.equal(annotation(await renderChart()), before, 'the checksum must be stable');
    assert.notEqual(annotation(await renderChart({ set: { 'envoy.timeouts.route': '20s' } })), before);
  });
});

describe('the compose stack (deploy/compose)', () => {
  it('should route and transcode exactly like the chart, the upstream address aside', async () => {
    const chart = envoyConfigOf(await renderChart()) as Bootstrap;
    const compose = parse(await readFile(join(COMPOSE_DIR, 'envoy.yaml'), 'utf8')) as Bootstrap;
    assert.deepEqual(endpoints(cluster(compose, 'fraud_scoring')), ['fraud-scoring:50051']);
    // The only intended difference: another container by DNS name instead of the pod's 127.0.0.1.
    const normalise = (config: Bootstrap): Bootstrap => {
      const copy = structuredClone(config);
      const upstream = cluster(copy, 'fraud_scoring') as unknown as Record<string, unknown>;
      delete upstream.type;
      delete upstream.dns_lookup_family;
      delete upstream.load_assignment;
      return copy;
    };
    assert.deepEqual(normalise(compose), normalise(chart));
  });

  it("should run the chart's Envoy image with the same descriptor at the same path", async () => {
    const file = parse(await readFile(join(COMPOSE_DIR, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { image?: string; volumes?: string[] }> };
    const deployment = only(await renderChart(), 'Deployment');
    assert.equal(`docker.io/${file.services.envoy?.image ?? ''}`, container(deployment, 'envoy').image);
    assert.ok(file.services.envoy?.volumes?.includes('../../src/gen/fraud.binpb:/etc/envoy/descriptor/fraud.binpb:ro'));
  });
});

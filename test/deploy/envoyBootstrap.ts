/** The parts of an Envoy v3 bootstrap (YAML, snake_case) the deploy tests read. */

export interface SocketAddress {
  socket_address: { address: string; port_value: number };
}

export interface Route {
  match: { prefix?: string; path?: string; headers?: { name: string; string_match?: { exact?: string } }[] };
  route?: { cluster: string; timeout?: string };
  direct_response?: { status: number };
}

export interface HttpFilter {
  name: string;
  typed_config: { '@type': string } & Record<string, unknown>;
}

export interface ConnectionManager {
  '@type': string;
  stat_prefix: string;
  request_headers_to_remove?: string[];
  forward_client_cert_details?: string;
  request_timeout?: string;
  stream_idle_timeout?: string;
  route_config: { virtual_hosts: { domains: string[]; routes: Route[] }[] };
  http_filters: HttpFilter[];
}

/** A reference to a secret of a file-based SDS source. */
export interface SdsSecretConfig {
  name: string;
  sds_config: { path_config_source: { path: string }; resource_api_version?: string };
}

export interface CommonTlsContext {
  alpn_protocols?: string[];
  tls_certificate_sds_secret_configs?: SdsSecretConfig[];
  validation_context_sds_secret_config?: SdsSecretConfig;
  tls_certificates?: unknown[];
  validation_context?: unknown;
}

export interface TlsContext {
  '@type': string;
  require_client_certificate?: boolean;
  sni?: string;
  common_tls_context: CommonTlsContext;
}

export interface TransportSocket {
  name: string;
  typed_config: TlsContext;
}

export interface Listener {
  name: string;
  address: SocketAddress;
  filter_chains: { filters: { name: string; typed_config: ConnectionManager }[]; transport_socket?: TransportSocket }[];
}

/** A file-based SDS source: TLS secrets (certificate files or trusted CA files). */
export interface SdsFile {
  resources: {
    '@type': string;
    name: string;
    tls_certificate?: { certificate_chain: { filename: string }; private_key: { filename: string }; watched_directory?: { path: string } };
    validation_context?: { trusted_ca: { filename: string }; watched_directory?: { path: string } };
  }[];
}

export const DOWNSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const UPSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

export interface Cluster {
  name: string;
  type: string;
  transport_socket?: TransportSocket;
  connect_timeout?: string;
  typed_extension_protocol_options?: Record<string, { explicit_http_config?: { http2_protocol_options?: object } }>;
  load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: SocketAddress } }[] }[] };
}

export interface Bootstrap {
  admin: { address: SocketAddress };
  static_resources: { listeners: Listener[]; clusters: Cluster[] };
}

export interface Transcoder {
  '@type': string;
  proto_descriptor?: string;
  services: string[];
  print_options?: {
    add_whitespace?: boolean;
    always_print_primitive_fields?: boolean;
    always_print_enums_as_ints?: boolean;
    preserve_proto_field_names?: boolean;
  };
  convert_grpc_status?: boolean;
  request_validation_options?: { reject_unknown_method?: boolean };
  max_request_body_size?: number;
  max_response_body_size?: number;
}

export const TRANSCODER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder';

export function listener(config: Bootstrap, name: string): Listener {
  const found = config.static_resources.listeners.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`no listener ${name}`);
  return found;
}

export function connectionManager(of: Listener): ConnectionManager {
  const filter = of.filter_chains[0]?.filters.find((candidate) => candidate.name === 'envoy.filters.network.http_connection_manager');
  if (filter === undefined) throw new Error(`listener ${of.name} has no HTTP connection manager`);
  return filter.typed_config;
}

export function transcoder(manager: ConnectionManager): Transcoder {
  const filter = manager.http_filters.find((candidate) => candidate.typed_config['@type'] === TRANSCODER_TYPE);
  if (filter === undefined) throw new Error('no gRPC-JSON transcoder filter');
  return filter.typed_config as unknown as Transcoder;
}

export function cluster(config: Bootstrap, name: string): Cluster {
  const found = config.static_resources.clusters.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`no cluster ${name}`);
  return found;
}

export function endpoints(of: Cluster): string[] {
  return of.load_assignment.endpoints.flatMap((group) =>
    group.lb_endpoints.map(({ endpoint }) => `${endpoint.address.socket_address.address}:${endpoint.address.socket_address.port_value}`),
  );
}

import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** One span as an OTLP/JSON export carried it, with attributes as a plain object. */
export interface ReceivedSpan {
  readonly resource: Readonly<Record<string, unknown>>;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly name: string;
  /** OTLP SpanKind: 1 internal, 2 server. */
  readonly kind: number;
  readonly attributes: Readonly<Record<string, unknown>>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  readonly status: { readonly code: number; readonly message: string };
  /** Start and end (Unix nanoseconds), to tell which span ended before another began. */
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly events: readonly { readonly name: string; readonly timeNs: bigint; readonly attributes: Readonly<Record<string, unknown>> }[];
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  kind: number;
  attributes?: OtlpAttribute[];
  status?: { code?: number; message?: string };
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  events?: { name: string; timeUnixNano?: string | number; attributes?: OtlpAttribute[] }[];
}
interface OtlpExport {
  resourceSpans?: { resource?: { attributes?: OtlpAttribute[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

function attributesOf(list: OtlpAttribute[] | undefined): Record<string, unknown> {
  const attributes: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) {
    attributes[key] = value.stringValue ?? (value.intValue === undefined ? undefined : Number(value.intValue)) ?? value.doubleValue ?? value.boolValue;
  }
  return attributes;
}

/**
 * An OTLP/HTTP collector for tests: takes POST /v1/traces in OTLP/JSON
 * (OTEL_EXPORTER_OTLP_PROTOCOL=http/json), answers 200, keeps the spans;
 * protobuf bodies (http/protobuf) are kept as they came.
 * `blackhole` accepts connections and never answers (a collector that hangs).
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Export requests received, whatever their body. */
  requests = 0;
  /** The bodies of OTLP/HTTP protobuf exports (http/protobuf), undecoded. */
  readonly protobufBodies: Buffer[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(blackhole: boolean) {
    this.server = createServer((request, response) => {
      this.requests++;
      if (blackhole) return;
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        let body = Buffer.concat(chunks);
        if (request.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        const contentType = String(request.headers['content-type']);
        if (request.url === '/v1/traces' && contentType.startsWith('application/x-protobuf')) {
          this.protobufBodies.push(body);
          // An empty ExportTraceServiceResponse.
          response.writeHead(200, { 'content-type': 'application/x-protobuf' });
          response.end();
          return;
        }
        if (request.url === '/v1/traces' && contentType.startsWith('application/json')) this.add(JSON.parse(body.toString('utf8')) as OtlpExport);
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{}');
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(options: { blackhole?: boolean } = {}): Promise<OtlpReceiver> {
    const receiver = new OtlpReceiver(options.blackhole ?? false);
    await new Promise<void>((resolveListen) => receiver.server.listen(0, '127.0.0.1', resolveListen));
    return receiver;
  }

  /** The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolveClose) => this.server.close(() => {
        resolveClose();
      }));
  }

  private add(exported: OtlpExport): void {
    for (const resourceSpans of exported.resourceSpans ?? []) {
      const resource = attributesOf(resourceSpans.resource?.attributes);
      for (const scope of resourceSpans.scopeSpans ?? []) {
        for (const span of scope.spans ?? []) {
          this.spans.push({
            resource,
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId ?? '',
            traceState: span.traceState ?? '',
            name: span.name,
            kind: span.kind,
            attributes: attributesOf(span.attributes),
            status: { code: span.status?.code ?? 0, message: span.status?.message ?? '' },
            startNs: BigInt(span.startTimeUnixNano ?? 0),
            endNs: BigInt(span.endTimeUnixNano ?? 0),
            events: (span.events ?? []).map((event) => ({ name: event.name, timeNs: BigInt(event.timeUnixNano ?? 0), attributes: attributesOf(event.attributes) })),
          });
        }
      }
    }
  }
}

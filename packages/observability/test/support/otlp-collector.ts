import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** A span as an OTLP/HTTP protobuf export carried it (the fields the tests look at). */
export interface CollectedSpan {
  service: string | undefined;
  instance: string | undefined;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  attributes: Record<string, string | number | boolean>;
}

export const OTLP_KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

/**
 * A minimal OTLP/HTTP trace receiver on loopback: accepts `POST /v1/traces` (protobuf, optionally
 * gzip) and decodes the spans with a small protobuf wire-format reader, so tests see what a real
 * collector would receive.
 */
export async function startOtlpCollector(): Promise<{ endpoint: string; spans: CollectedSpan[]; requests: number; close(): Promise<void> }> {
  const state = { spans: [] as CollectedSpan[], requests: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') return void res.writeHead(404).end();
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      state.requests++;
      state.spans.push(...decodeExportTraceRequest(body));
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get spans() {
      return state.spans;
    },
    get requests() {
      return state.requests;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Field = { no: number; varint?: bigint; bytes?: Uint8Array; fixed?: number };

function* fields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const tag = Number(varint());
    const no = tag >>> 3;
    switch (tag & 7) {
      case 0:
        yield { no, varint: varint() };
        break;
      case 1:
        pos += 8;
        yield { no, fixed: 8 };
        break;
      case 2: {
        const len = Number(varint());
        yield { no, bytes: buf.subarray(pos, pos + len) };
        pos += len;
        break;
      }
      case 5:
        pos += 4;
        yield { no, fixed: 4 };
        break;
      default:
        throw new Error(`unsupported protobuf wire type ${tag & 7}`);
    }
  }
}

const text = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('utf8') : '');
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : '');

function keyValue(buf: Uint8Array): [string, string | number | boolean] {
  let key = '';
  let value: string | number | boolean = '';
  for (const f of fields(buf)) {
    if (f.no === 1) key = text(f.bytes);
    if (f.no === 2 && f.bytes) {
      for (const v of fields(f.bytes)) {
        if (v.no === 1) value = text(v.bytes);
        else if (v.no === 2) value = v.varint === 1n;
        else if (v.no === 3) value = Number(v.varint);
      }
    }
  }
  return [key, value];
}

/** Decodes an `ExportTraceServiceRequest` (opentelemetry/proto/collector/trace/v1). */
export function decodeExportTraceRequest(buf: Uint8Array): CollectedSpan[] {
  const spans: CollectedSpan[] = [];
  for (const rs of fields(buf)) {
    if (rs.no !== 1 || !rs.bytes) continue;
    const resource: Record<string, string | number | boolean> = {};
    const raw: Uint8Array[] = [];
    for (const f of fields(rs.bytes)) {
      if (f.no === 1 && f.bytes) for (const a of fields(f.bytes)) if (a.no === 1 && a.bytes) Object.assign(resource, Object.fromEntries([keyValue(a.bytes)]));
      if (f.no === 2 && f.bytes) for (const s of fields(f.bytes)) if (s.no === 2 && s.bytes) raw.push(s.bytes);
    }
    for (const bytes of raw) {
      const span: CollectedSpan = {
        service: resource['service.name'] as string | undefined,
        instance: resource['service.instance.id'] as string | undefined,
        name: '',
        kind: 0,
        traceId: '',
        spanId: '',
        parentSpanId: '',
        attributes: {},
      };
      for (const f of fields(bytes)) {
        if (f.no === 1) span.traceId = hex(f.bytes);
        else if (f.no === 2) span.spanId = hex(f.bytes);
        else if (f.no === 4) span.parentSpanId = hex(f.bytes);
        else if (f.no === 5) span.name = text(f.bytes);
        else if (f.no === 6) span.kind = Number(f.varint);
        else if (f.no === 9 && f.bytes) {
          const [k, v] = keyValue(f.bytes);
          span.attributes[k] = v;
        }
      }
      spans.push(span);
    }
  }
  return spans;
}

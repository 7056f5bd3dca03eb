import type { HttpRequest, HttpResponse } from './uws.ts';

/** A web-standard request handler (Hono apps expose one as `app.fetch`). */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** @default 1 MiB: request bodies larger than this get 413. */
export const DEFAULT_MAX_HTTP_BODY_BYTES = 1024 * 1024;

const NO_BODY = new Set(['GET', 'HEAD']);
/** Methods no Parley route serves and the fetch API cannot represent (`new Request` throws on them). */
const REFUSED_METHODS = new Set(['TRACE', 'TRACK', 'CONNECT']);

/**
 * Serves one uWebSockets.js HTTP request with a fetch handler. Everything needed from `req` is
 * copied before the first await (uWS stack-allocates it), an abort is tracked, and the reply is
 * written inside `cork`.
 */
export function serveWithFetch(res: HttpResponse, req: HttpRequest, handler: FetchHandler, options: { host: string; remoteAddress?: string; maxBodyBytes?: number }) {
  const method = req.getCaseSensitiveMethod().toUpperCase();
  const query = req.getQuery();
  const url = `http://${req.getHeader('host') || options.host}${req.getUrl()}${query ? `?${query}` : ''}`;
  const headers = new Headers();
  req.forEach((key, value) => headers.append(key, value));
  const remote = Buffer.from(res.getRemoteAddressAsText()).toString();
  if (REFUSED_METHODS.has(method)) {
    res.cork(() =>
      res
        .writeStatus('405 Method Not Allowed')
        .writeHeader('allow', 'GET, HEAD, POST, PUT, PATCH, DELETE')
        .writeHeader('content-type', 'application/json')
        .end(JSON.stringify({ code: 'method_not_allowed', message: `${method} is not allowed`, temporary: false })),
    );
    return;
  }
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_HTTP_BODY_BYTES;

  const respond = async (body: Buffer | undefined) => {
    let response: Response;
    let request: Request | undefined;
    try {
      request = new Request(url, { method, headers, ...(body && { body }) });
      Object.defineProperty(request, 'remoteAddress', { value: remote });
    } catch {
      // A Host header or method the fetch API cannot represent: the client's mistake.
      response = Response.json({ code: 'bad_frame', message: 'the request line or headers are not valid HTTP', temporary: false }, { status: 400 });
    }
    if (request) {
      try {
        response = await handler(request);
      } catch {
        response = Response.json({ code: 'internal', message: 'internal error', temporary: true }, { status: 500 });
      }
    }
    const payload = method === 'HEAD' ? new ArrayBuffer(0) : await response!.arrayBuffer();
    if (aborted) return;
    res.cork(() => {
      res.writeStatus(`${response.status} ${response.statusText || ''}`.trim());
      response.headers.forEach((value, key) => {
        if (key !== 'content-length') res.writeHeader(key, value);
      });
      res.end(payload);
    });
  };

  if (NO_BODY.has(method)) {
    void respond(undefined);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  res.onData((chunk, isLast) => {
    size += chunk.byteLength;
    if (size > limit) {
      if (!aborted) {
        aborted = true;
        res.cork(() => res.writeStatus('413 Payload Too Large').writeHeader('content-type', 'application/json').end(JSON.stringify({ code: 'frame_too_large', message: `request body over ${limit} bytes`, temporary: false }), true));
      }
      return;
    }
    // The chunk is neutered after this callback returns: copy it.
    chunks.push(Buffer.from(chunk.slice(0)));
    if (isLast && !aborted) void respond(Buffer.concat(chunks));
  });
}

/** The client address a fetch handler sees when served through `serveWithFetch`. */
export function remoteAddressOf(request: Request): string | undefined {
  return (request as Request & { remoteAddress?: string }).remoteAddress;
}

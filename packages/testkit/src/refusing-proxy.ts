import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RefusingProxy {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /**
   * Drops every connection it carries on the clients' side, as a flaky network would; the
   * gateway's side stays open until it finds out (so a stream resumed meanwhile takes it over).
   */
  dropAll(): void;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of `targetPort` that passes requests and responses through as they
 * arrive (no buffering) and refuses WebSocket upgrades with 403, as some corporate proxies do.
 */
export async function startWebSocketRefusingProxy(targetPort: number): Promise<RefusingProxy> {
  const server = createServer((req, res) => {
    const upstream = httpRequest({ host: '127.0.0.1', port: targetPort, path: req.url, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dropAll: () => server.closeAllConnections(),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

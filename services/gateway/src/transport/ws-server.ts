import { CLOSE_CODES, SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX } from '@parley/protocol';
import type { ConnectionLifecycle } from '../domain/connection.ts';
import type { GatewayMetrics } from '../metrics.ts';
import uws, { type TemplatedApp, type WebSocket } from './uws.ts';
import { wantsCompression, type CompressionMode } from './compression.ts';
import { CLOSE_REASONS, UwsClientSocket, type SocketData } from './uws-client-socket.ts';

/** @default 10000: how long a slow consumer may take to read what is buffered before its 4002 close. */
export const SLOW_CONSUMER_GRACE_MS = 10_000;

export interface WebSocketRouteOptions {
  path: string;
  maxPayloadBytes: number;
  maxBackpressureBytes: number;
  idleTimeoutSeconds: number;
  /** permessage-deflate: never, for tenants whose tokens ask for it (`cmp`), or for every client that offers it. */
  compression: CompressionMode;
}

/** Reads the token from `Sec-WebSocket-Protocol: parley.v1, parley.token.<jwt>` or `Authorization: Bearer <jwt>`. */
export function extractToken(protocols: string, authorization: string): string | undefined {
  for (const p of protocols.split(',')) {
    const value = p.trim();
    if (value.startsWith(TOKEN_SUBPROTOCOL_PREFIX)) return value.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
  }
  const match = /^Bearer\s+(\S+)$/i.exec(authorization);
  return match?.[1];
}

/**
 * The WebSocket route. The upgrade is synchronous; the connection's life cycle (domain/connection.ts)
 * starts right after it, in `open`. (An asynchronous upgrade would need
 * `res.cork(() => res.upgrade(...))`, and in uWebSockets.js 20.57 that cork can close the new
 * socket at random: uWebSockets.js #1108, fixed upstream after this release.) A refused token
 * still gets an open socket, so that browsers, which cannot read an HTTP status, get an `error`
 * frame and a close code that says why.
 */
export function attachWebSocketRoute(
  app: TemplatedApp,
  deps: { lifecycle: ConnectionLifecycle; metrics: GatewayMetrics },
  options: WebSocketRouteOptions,
) {
  const { lifecycle, metrics } = deps;
  const countCompressed = () => metrics.compressedConnections.inc();

  /**
   * A frame was dropped for backpressure (by a publish, or a send: see UwsClientSocket): the
   * client is a slow consumer. It gets nothing more (its topics are dropped, sends skipped), and
   * the socket ends with 4002 once what is already buffered has drained below the limit, so the
   * close frame fits behind it (uWebSockets.js drops any frame, a close too, while the buffer is
   * over the limit); a client that reads nothing for SLOW_CONSUMER_GRACE_MS is cut off (1006).
   * All of this runs on the next turn of the event loop: ending or unsubscribing a socket inside
   * the `dropped` callback, while a publish walks the topic's subscribers, crashes the process
   * (SIGSEGV, uWebSockets.js 20.57).
   */
  const closeSlowConsumer = (ws: WebSocket<SocketData>) => {
    const data = ws.getUserData();
    if (data.closed || data.closeReason === 'slow_consumer') return;
    data.closeReason = 'slow_consumer';
    if (data.session) metrics.slowConsumers.inc({ tenant: data.session.ns });
    setImmediate(() => {
      if (data.closed) return;
      for (const topic of ws.getTopics()) ws.unsubscribe(topic);
      endDrainedSlowConsumer(ws);
      setTimeout(() => {
        if (!data.closed) ws.close();
      }, SLOW_CONSUMER_GRACE_MS).unref();
    });
  };
  const endDrainedSlowConsumer = (ws: WebSocket<SocketData>) => {
    if (ws.getBufferedAmount() < options.maxBackpressureBytes) ws.end(CLOSE_CODES.slow_consumer, 'send buffer overflow: read faster, then reconnect and resume');
  };

  app.ws<SocketData>(options.path, {
    // Also the limit of an inflated frame: a compressed frame that inflates beyond it is cut (1006, "too big").
    maxPayloadLength: options.maxPayloadBytes,
    // Shared (de)compressor, no context takeover: no memory per socket, each frame on its own.
    compression: options.compression === 'off' ? uws.DISABLED : uws.SHARED_COMPRESSOR | uws.SHARED_DECOMPRESSOR,
    maxBackpressure: options.maxBackpressureBytes,
    // Over the limit a message would be skipped silently; we close the slow client instead (see `dropped`).
    closeOnBackpressureLimit: false,
    idleTimeout: options.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    upgrade(res, req, context) {
      const protocols = req.getHeader('sec-websocket-protocol');
      // One literal with every field, so that all sockets share one compact object shape (no property store added later).
      const data: SocketData = {
        token: extractToken(protocols, req.getHeader('authorization')),
        origin: req.getHeader('origin') || undefined,
        socket: undefined,
        session: undefined,
        ready: false,
        early: undefined,
        earlyBytes: 0,
        refused: false,
        closed: false,
        closeReason: undefined,
        compressed: false,
      };
      const selected = protocols.split(',').some((p) => p.trim() === SUBPROTOCOL) ? SUBPROTOCOL : '';
      // An empty extensions header negotiates no compression for this socket.
      const offered = options.compression === 'off' ? '' : req.getHeader('sec-websocket-extensions');
      const extensions = offered && wantsCompression(options.compression, data.token) ? offered : '';
      data.compressed = extensions.includes('permessage-deflate');
      res.upgrade(data, req.getHeader('sec-websocket-key'), selected, extensions, context);
    },
    open(ws) {
      const data = ws.getUserData();
      void lifecycle.start(data, new UwsClientSocket(ws, closeSlowConsumer), data.compressed ? countCompressed : undefined);
    },
    message(ws, message, isBinary) {
      const data = ws.getUserData();
      if (data.ready && data.session) {
        void data.session.handleMessage(message, isBinary);
        return;
      }
      lifecycle.receive(data, message, isBinary);
    },
    dropped: closeSlowConsumer,
    drain(ws) {
      const data = ws.getUserData();
      if (!data.closed && data.closeReason === 'slow_consumer') endDrainedSlowConsumer(ws);
    },
    close(ws, code, message) {
      const data = ws.getUserData();
      lifecycle.closed(data, data.closeReason ?? CLOSE_REASONS.get(code) ?? closeReasonOf(code, message));
    },
  });
}

const TOO_BIG = /too big/i;

/**
 * A close the gateway did not ask for, by its code. uWebSockets.js cuts a socket whose frame is
 * over the payload limit, before or after inflation, with 1006 and "Received too big message…".
 */
function closeReasonOf(code: number, message: ArrayBuffer): string {
  if (code === 1000 || code === 1001 || code === 1005) return 'client';
  if (code === 1006) return message.byteLength > 0 && TOO_BIG.test(Buffer.from(message).toString()) ? 'frame_too_large' : 'abnormal';
  return code === 1009 ? 'frame_too_large' : `code_${code}`;
}

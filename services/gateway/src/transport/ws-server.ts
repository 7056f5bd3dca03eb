import { CLOSE_CODES, ParleyError, SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX, errorBody, type CloseReason, type ErrorCode } from '@parley/protocol';
import type { Logger } from '@parley/observability';
import type { GatewayCore } from '../domain/gateway-core.ts';
import type { Session } from '../domain/session.ts';
import type { TokenVerifier, VerifiedToken } from '../domain/token-verifier.ts';
import type { GatewayMetrics } from '../metrics.ts';
import uws, { type TemplatedApp, type WebSocket } from './uws.ts';
import { wantsCompression, type CompressionMode } from './compression.ts';
import { CLOSE_REASONS, UwsClientSocket, type SocketData } from './uws-client-socket.ts';

/** @default 10000: how long a slow consumer may take to read what is buffered before its 4002 close. */
export const SLOW_CONSUMER_GRACE_MS = 10_000;

/** @default 16: frames a client may send before its `welcome`; more closes the socket (4103). */
export const MAX_EARLY_FRAMES = 16;
/** @default 64 KiB: bytes those frames may hold together (inflated); more closes the socket (4103). */
export const MAX_EARLY_BYTES = 64 * 1024;

export interface WebSocketRouteOptions {
  path: string;
  maxPayloadBytes: number;
  maxBackpressureBytes: number;
  idleTimeoutSeconds: number;
  /** permessage-deflate: never, for tenants whose tokens ask for it (`cmp`), or for every client that offers it. */
  compression: CompressionMode;
}

const REFUSAL_CLOSE: Partial<Record<ErrorCode, CloseReason>> = {
  token_expired: 'token_expired',
  token_revoked: 'token_revoked',
  origin_not_allowed: 'forbidden',
  namespace_mismatch: 'forbidden',
  too_many_connections: 'too_many_connections',
  auth_unavailable: 'auth_unavailable',
  shutting_down: 'shutdown',
};


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
 * The WebSocket route. The upgrade is synchronous; the token is verified right after it, in
 * `open`. (An asynchronous upgrade would need `res.cork(() => res.upgrade(...))`, and in
 * uWebSockets.js 20.57 that cork can close the new socket at random: uWebSockets.js #1108, fixed
 * upstream after this release.) Frames that arrive before verification ends are kept, up to
 * MAX_EARLY_FRAMES, and handled in order after `welcome`. A refused token still gets an open
 * socket, so that browsers, which cannot read an HTTP status, get an `error` frame and a close
 * code that says why.
 */
export function attachWebSocketRoute(
  app: TemplatedApp,
  deps: { core: GatewayCore; verifyToken: TokenVerifier; metrics: GatewayMetrics; logger: Logger },
  options: WebSocketRouteOptions,
) {
  const { core, verifyToken, metrics, logger } = deps;

  const refuse = (ws: WebSocket<SocketData>, error: unknown) => {
    const data = ws.getUserData();
    const code: ErrorCode = error instanceof ParleyError ? error.code : 'internal';
    if (!(error instanceof ParleyError)) logger.error({ err: error }, 'token verification failed unexpectedly');
    metrics.connectionsRefused.inc({ code });
    const close = REFUSAL_CLOSE[code] ?? 'unauthorized';
    data.refused = true;
    data.early = undefined;
    data.closeReason = close;
    ws.cork(() => {
      ws.send(JSON.stringify({ type: 'error', ...errorBody(code, error instanceof Error ? error.message : undefined) }));
      ws.end(CLOSE_CODES[close], code);
    });
  };

  const authenticate = async (ws: WebSocket<SocketData>) => {
    const data = ws.getUserData();
    const token = data.token;
    data.token = undefined;
    try {
      if (token === undefined) throw new ParleyError('token_invalid', 'no token: send it as the "parley.token.<jwt>" subprotocol');
      const verified = await verifyToken(token);
      if (data.closed) return;
      core.admit(verified, data.origin);
      data.origin = undefined;
      if (data.compressed) metrics.compressedConnections.inc();
      const { session, opened } = core.open(new UwsClientSocket(ws, closeSlowConsumer), verified);
      data.session = session;
      await opened;
      if (data.closed) return;
      data.ready = true;
      const early = data.early ?? [];
      data.early = undefined;
      // Synchronously, in order, before any later frame's `message` event can run.
      for (const frame of early) void session.handleMessage(frame.data, frame.isBinary);
    } catch (error) {
      if (!data.closed) refuse(ws, error);
    }
  };

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
      // Every field set here, so that all sockets share one compact object shape.
      const data: SocketData = {
        token: extractToken(protocols, req.getHeader('authorization')),
        origin: req.getHeader('origin') || undefined,
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
      void authenticate(ws);
    },
    message(ws, message, isBinary) {
      const data = ws.getUserData();
      if (data.ready && data.session) {
        void data.session.handleMessage(message, isBinary);
        return;
      }
      if (data.refused) return;
      data.early ??= [];
      data.earlyBytes += message.byteLength;
      if (data.early.length >= MAX_EARLY_FRAMES || data.earlyBytes > MAX_EARLY_BYTES) {
        data.closeReason = 'protocol_violation';
        ws.end(CLOSE_CODES.protocol_violation, 'too many frames before welcome');
        return;
      }
      // The message buffer is only valid during this call: keep a copy.
      data.early.push({ data: message.slice(0), isBinary });
    },
    dropped: closeSlowConsumer,
    drain(ws) {
      const data = ws.getUserData();
      if (!data.closed && data.closeReason === 'slow_consumer') endDrainedSlowConsumer(ws);
    },
    close(ws, code, message) {
      const data = ws.getUserData();
      data.closed = true;
      const reason = data.closeReason ?? CLOSE_REASONS.get(code) ?? closeReasonOf(code, message);
      if (data.session) void core.closed(data.session, reason).catch((error: unknown) => logger.warn({ err: error }, 'session cleanup failed'));
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

import { CLOSE_CODES, ParleyError, SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX, errorBody, type CloseReason, type ErrorCode } from '@parley/protocol';
import type { Logger } from '@parley/observability';
import type { GatewayCore } from '../domain/gateway-core.ts';
import type { ClientSocket, Session } from '../domain/session.ts';
import type { TokenVerifier, VerifiedToken } from '../domain/token-verifier.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { TemplatedApp, WebSocket } from './uws.ts';

/** Per-socket state, typed; `closed` guards every call that may outlive the socket. */
interface SocketData {
  token?: VerifiedToken;
  refusal?: { code: ErrorCode; close: CloseReason; message?: string };
  session?: Session;
  closed: boolean;
  closeReason?: string;
}

export interface WebSocketRouteOptions {
  path: string;
  maxPayloadBytes: number;
  maxBackpressureBytes: number;
  idleTimeoutSeconds: number;
}

const REFUSAL_CLOSE: Partial<Record<ErrorCode, CloseReason>> = {
  token_expired: 'token_expired',
  token_revoked: 'token_revoked',
  origin_not_allowed: 'forbidden',
  namespace_mismatch: 'forbidden',
  too_many_connections: 'too_many_connections',
  shutting_down: 'shutdown',
};

const CLOSE_REASONS = new Map<number, string>(Object.entries(CLOSE_CODES).map(([name, code]) => [code, name]));

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
 * The WebSocket route. The token is verified during the upgrade (asynchronously: headers are
 * copied out of `req` first and `onAborted` is honoured); a refused token still upgrades, so that
 * browsers, which cannot read an HTTP status, get an `error` frame and a close code that says why.
 */
export function attachWebSocketRoute(
  app: TemplatedApp,
  deps: { core: GatewayCore; verifyToken: TokenVerifier; metrics: GatewayMetrics; logger: Logger },
  options: WebSocketRouteOptions,
) {
  const { core, verifyToken, metrics, logger } = deps;

  app.ws<SocketData>(options.path, {
    maxPayloadLength: options.maxPayloadBytes,
    maxBackpressure: options.maxBackpressureBytes,
    // Over the limit a message would be skipped silently; we close the slow client instead (see `dropped`).
    closeOnBackpressureLimit: false,
    idleTimeout: options.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    upgrade(res, req, context) {
      const secKey = req.getHeader('sec-websocket-key');
      const protocols = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const authorization = req.getHeader('authorization');
      const origin = req.getHeader('origin') || undefined;
      const selected = protocols.split(',').some((p) => p.trim() === SUBPROTOCOL) ? SUBPROTOCOL : '';
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      const token = extractToken(protocols, authorization);
      const verified = token === undefined ? Promise.reject(new ParleyError('token_invalid', 'no token: send it as the "parley.token.<jwt>" subprotocol')) : verifyToken(token);
      verified
        .then((t): SocketData => {
          core.admit(t, origin);
          return { token: t, closed: false };
        })
        .catch((error: unknown): SocketData => {
          const code: ErrorCode = error instanceof ParleyError ? error.code : 'internal';
          if (!(error instanceof ParleyError)) logger.error({ err: error }, 'token verification failed unexpectedly');
          metrics.connectionsRefused.inc({ code });
          return { refusal: { code, close: REFUSAL_CLOSE[code] ?? 'unauthorized', ...(error instanceof Error && { message: error.message }) }, closed: false };
        })
        .then((data) => {
          if (aborted) return;
          res.cork(() => res.upgrade(data, secKey, selected, extensions, context));
        });
    },
    open(ws) {
      const data = ws.getUserData();
      if (data.refusal || !data.token) {
        const refusal = data.refusal ?? { code: 'token_invalid', close: 'unauthorized' };
        data.closeReason = refusal.close;
        ws.send(JSON.stringify({ type: 'error', ...errorBody(refusal.code, refusal.message) }));
        ws.end(CLOSE_CODES[refusal.close], refusal.code);
        return;
      }
      data.session = core.open(clientSocket(ws), data.token);
    },
    message(ws, message, isBinary) {
      const session = ws.getUserData().session;
      if (session) void session.handleMessage(message, isBinary);
    },
    dropped(ws) {
      const data = ws.getUserData();
      if (data.closed || data.closeReason === 'slow_consumer') return;
      data.closeReason = 'slow_consumer';
      if (data.session) metrics.slowConsumers.inc({ tenant: data.session.ns });
      ws.end(CLOSE_CODES.slow_consumer, 'send buffer overflow: read faster, then reconnect and resume');
    },
    close(ws, code) {
      const data = ws.getUserData();
      data.closed = true;
      const reason = data.closeReason ?? CLOSE_REASONS.get(code) ?? (code === 1000 || code === 1001 ? 'client' : code === 1006 ? 'abnormal' : `code_${code}`);
      if (data.session) void core.closed(data.session, reason).catch((error: unknown) => logger.warn({ err: error }, 'session cleanup failed'));
    },
  });
}

function clientSocket(ws: WebSocket<SocketData>): ClientSocket {
  const data = ws.getUserData();
  return {
    get closed() {
      return data.closed;
    },
    send(payload) {
      if (data.closed) return;
      ws.cork(() => ws.send(payload, false));
    },
    bufferedAmount() {
      return data.closed ? 0 : ws.getBufferedAmount();
    },
    subscribe(topic) {
      if (!data.closed) ws.subscribe(topic);
    },
    unsubscribe(topic) {
      if (!data.closed) ws.unsubscribe(topic);
    },
    end(code, reason) {
      if (data.closed) return;
      data.closeReason ??= CLOSE_REASONS.get(code);
      ws.end(code, reason);
    },
  };
}

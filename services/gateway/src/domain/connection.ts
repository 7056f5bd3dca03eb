import { CLOSE_CODES, ParleyError, errorBody, type CloseReason, type ErrorCode } from '@parley/protocol';
import type { Logger } from '@parley/observability';
import type { GatewayMetrics } from '../metrics.ts';
import type { ClientSocket } from './client-socket.ts';
import type { GatewayCore } from './gateway-core.ts';
import type { Session } from './session.ts';
import type { TokenVerifier, VerifiedToken } from './token-verifier.ts';

/** @default 16: frames a client may send before its `welcome`; more closes the connection (4103). */
export const MAX_EARLY_FRAMES = 16;
/** @default 64 KiB: bytes those frames may hold together (inflated); more closes the connection (4103). */
export const MAX_EARLY_BYTES = 64 * 1024;

/** The close that goes with a refusal at the handshake, by its error code (`unauthorized` otherwise). */
const REFUSAL_CLOSE: Partial<Record<ErrorCode, CloseReason>> = {
  token_expired: 'token_expired',
  token_revoked: 'token_revoked',
  origin_not_allowed: 'forbidden',
  namespace_mismatch: 'forbidden',
  too_many_connections: 'too_many_connections',
  auth_unavailable: 'auth_unavailable',
  shutting_down: 'shutdown',
};

/**
 * What the life cycle keeps per connection. A transport keeps it with its socket (uWebSockets.js:
 * in the socket's user data, so that every socket shares one compact object shape) and may add
 * fields of its own.
 */
export interface ConnectionState {
  /** The presented token, verified once the transport is open; cleared when verification starts. */
  token: string | undefined;
  origin: string | undefined;
  /** The transport's socket, set when the life cycle starts. */
  socket: ClientSocket | undefined;
  session: Session | undefined;
  /** True once `welcome` was sent; frames before that are kept in `early`. */
  ready: boolean;
  /** Frames that arrived before `welcome`, handled in order once it is sent. */
  early: Array<{ data: ArrayBuffer; isBinary: boolean }> | undefined;
  earlyBytes: number;
  refused: boolean;
  closed: boolean;
  /** Why the gateway closed it (the `parley_gateway_connections_closed_total` label); unset when the client did. */
  closeReason: string | undefined;
}

export function newConnectionState(token: string | undefined, origin: string | undefined): ConnectionState {
  return { token, origin, socket: undefined, session: undefined, ready: false, early: undefined, earlyBytes: 0, refused: false, closed: false, closeReason: undefined };
}

/**
 * A connection's life, the same for every transport: verify the token → admit it (revocations,
 * Origin, the tenant's connection limit, draining) → open the session (its `welcome`) → handle the
 * frames that arrived meanwhile, in order → forget the session when the transport closes. A
 * refused token still gets an `error` frame and a close that says why, since browsers cannot read
 * an HTTP status.
 */
export function createConnectionLifecycle(deps: { core: GatewayCore; verifyToken: TokenVerifier; metrics: GatewayMetrics; logger: Logger }) {
  const { core, verifyToken, metrics, logger } = deps;

  const refuse = (state: ConnectionState, socket: ClientSocket, error: unknown) => {
    const code: ErrorCode = error instanceof ParleyError ? error.code : 'internal';
    if (!(error instanceof ParleyError)) logger.error({ err: error }, 'token verification failed unexpectedly');
    metrics.connectionsRefused.inc({ code });
    const close = REFUSAL_CLOSE[code] ?? 'unauthorized';
    state.refused = true;
    state.early = undefined;
    state.closeReason = close;
    socket.send(JSON.stringify({ type: 'error', ...errorBody(code, error instanceof Error ? error.message : undefined) }));
    socket.end(CLOSE_CODES[close], code);
  };

  return {
    /**
     * Verifies, admits and opens; then handles the early frames. `admitted` runs once the token
     * is admitted, before the session opens (for the transport's own counters).
     */
    async start(state: ConnectionState, socket: ClientSocket, admitted?: (token: VerifiedToken) => void) {
      state.socket = socket;
      const token = state.token;
      state.token = undefined;
      try {
        if (token === undefined) throw new ParleyError('token_invalid', 'no token: send it as the "parley.token.<jwt>" subprotocol');
        const verified = await verifyToken(token);
        if (state.closed) return;
        core.admit(verified, state.origin);
        state.origin = undefined;
        admitted?.(verified);
        const { session, opened } = core.open(socket, verified);
        state.session = session;
        await opened;
        if (state.closed) return;
        state.ready = true;
        const early = state.early ?? [];
        state.early = undefined;
        // Synchronously, in order, before any later frame can be handled.
        for (const frame of early) void session.handleMessage(frame.data, frame.isBinary);
      } catch (error) {
        if (!state.closed) refuse(state, socket, error);
      }
    },

    /**
     * A frame from the client. Before `welcome` it is kept (a copy: a transport's buffer may be
     * valid only during the call), up to MAX_EARLY_FRAMES and MAX_EARLY_BYTES; beyond that the
     * connection is closed as a protocol violation.
     */
    receive(state: ConnectionState, data: ArrayBuffer, isBinary: boolean) {
      const session = state.session;
      if (state.closed) return;
      if (state.ready && session) {
        void session.handleMessage(data, isBinary);
        return;
      }
      if (state.refused) return;
      state.early ??= [];
      state.earlyBytes += data.byteLength;
      if (state.early.length >= MAX_EARLY_FRAMES || state.earlyBytes > MAX_EARLY_BYTES) {
        state.closeReason = 'protocol_violation';
        state.socket?.end(CLOSE_CODES.protocol_violation, 'too many frames before welcome');
        return;
      }
      state.early.push({ data: data.slice(0), isBinary });
    },

    /** The transport closed (either side); `reason` labels the close when the gateway did not ask for it. */
    closed(state: ConnectionState, reason: string) {
      state.closed = true;
      if (state.session) void core.closed(state.session, state.closeReason ?? reason).catch((error: unknown) => logger.warn({ err: error }, 'session cleanup failed'));
    },
  };
}

export type ConnectionLifecycle = ReturnType<typeof createConnectionLifecycle>;

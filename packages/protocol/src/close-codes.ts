/**
 * WebSocket close codes Parley sends. 4000-4099: the client may reconnect (after a delay, or
 * with a fresh token where the name says so). 4100-4199: reconnecting with the same
 * credentials will fail again; the application must act first.
 */
export const CLOSE_CODES = {
  /** Server going away (drain, deploy). Reconnect, to any gateway. */
  shutdown: 4000,
  /** Token expired and was not refreshed. Get a new token, then reconnect. */
  token_expired: 4001,
  /** The client read too slowly; its send buffer overflowed. Reconnect (and resume). */
  slow_consumer: 4002,
  /** Flood: the message rate was exceeded persistently. Reconnect after a pause. */
  rate_limited: 4003,
  /** The tenant is at its connection limit. Reconnect later. */
  too_many_connections: 4004,
  /** The gateway cannot verify tokens now (the auth service's keys are unreachable). Reconnect after a delay. */
  auth_unavailable: 4005,
  /** The tenant backend disconnected this user; it may reconnect. */
  disconnected: 4006,
  /** The token is missing, malformed, or fails verification. */
  unauthorized: 4100,
  /** The connection is not allowed (Origin, namespace). */
  forbidden: 4101,
  /** The token (or every token of this user) was revoked. */
  token_revoked: 4102,
  /** Repeated protocol violations (binary frames, invalid frames). */
  protocol_violation: 4103,
} as const;

export type CloseReason = keyof typeof CLOSE_CODES;

export function mayReconnect(code: number): boolean {
  return code < 4100 || code >= 4200;
}

/**
 * The registry of stable error codes. A code never changes meaning once published; clients
 * switch on `code`, show `message`, and may retry when `temporary` is true.
 * `docs/protocol.md` lists the same codes (a test keeps them in step).
 */
export const ERRORS = {
  bad_json: { message: 'frame is not valid JSON', temporary: false, http: 400 },
  bad_frame: { message: 'frame does not match the protocol', temporary: false, http: 400 },
  unknown_type: { message: 'unknown frame type', temporary: false, http: 400 },
  binary_unsupported: { message: 'binary frames need the binary capability on the room and the documented layout; send JSON text frames', temporary: false, http: 400 },
  frame_too_large: { message: 'frame exceeds the maximum size', temporary: false, http: 413 },
  token_too_large: { message: 'the token would be larger than gateways accept', temporary: false, http: 413 },
  method_not_allowed: { message: 'this HTTP method is not allowed', temporary: false, http: 405 },
  invalid_room: { message: 'room name is not valid', temporary: false, http: 400 },
  invalid_user: { message: 'user id is not valid', temporary: false, http: 400 },
  token_invalid: { message: 'token is missing, malformed, or its signature does not verify', temporary: false, http: 401 },
  token_expired: { message: 'token has expired', temporary: false, http: 401 },
  token_revoked: { message: 'token has been revoked', temporary: false, http: 401 },
  ticket_invalid: { message: 'the connection ticket is unknown, spent or expired; exchange a token for a new one', temporary: false, http: 401 },
  auth_unavailable: { message: 'the keys to verify tokens are unavailable (auth unreachable); retry shortly', temporary: true, http: 503 },
  namespace_mismatch: { message: 'token belongs to another namespace', temporary: false, http: 403 },
  forbidden: { message: 'the token does not grant this action', temporary: false, http: 403 },
  origin_not_allowed: { message: 'the Origin of this connection is not allowed for the tenant', temporary: false, http: 403 },
  banned: { message: 'a moderator banned this user from the room', temporary: false, http: 403 },
  muted: { message: 'a moderator muted this user in the room', temporary: false, http: 403 },
  read_only: { message: 'the room is read-only: only its moderators publish', temporary: false, http: 403 },
  slow_mode: { message: 'the room is in slow mode: wait before sending again', temporary: true, http: 429 },
  invite_only: { message: 'the room is invite-only and this user is not invited', temporary: false, http: 403 },
  room_full: { message: 'the room has its maximum number of members', temporary: true, http: 409 },
  moderation_unavailable: { message: 'the moderation store is unavailable; retry shortly', temporary: true, http: 503 },
  not_joined: { message: 'the connection has not joined this room', temporary: false, http: 409 },
  already_joined: { message: 'the connection has already joined this room', temporary: false, http: 409 },
  too_many_rooms: { message: 'the connection has joined the maximum number of rooms', temporary: false, http: 429 },
  too_many_connections: { message: 'the tenant has reached its connection limit', temporary: true, http: 429 },
  too_many_revocations: { message: 'the tenant has reached its limit of live user revocations', temporary: true, http: 429 },
  too_many_webhooks: { message: 'the tenant has reached its limit of webhook endpoints', temporary: false, http: 409 },
  webhook_url_refused: { message: 'the webhook URL is not allowed', temporary: false, http: 400 },
  rate_limited: { message: 'too many messages; slow down', temporary: true, http: 429 },
  unavailable: { message: 'the message bus is unavailable; retry shortly', temporary: true, http: 503 },
  presence_unavailable: { message: 'presence is unavailable; retry shortly', temporary: true, http: 503 },
  history_unavailable: { message: 'history is unavailable; retry shortly', temporary: true, http: 503 },
  history_disabled: { message: 'history is not enabled for this tenant', temporary: false, http: 404 },
  history_gap: { message: 'messages after this sequence are no longer retained', temporary: false, http: 410 },
  shutting_down: { message: 'this gateway is shutting down; reconnect', temporary: true, http: 503 },
  unauthorized: { message: 'missing or invalid credentials', temporary: false, http: 401 },
  not_found: { message: 'not found', temporary: false, http: 404 },
  conflict: { message: 'already exists', temporary: false, http: 409 },
  internal: { message: 'internal error', temporary: true, http: 500 },
} as const satisfies Record<string, { message: string; temporary: boolean; http: number }>;

export type ErrorCode = keyof typeof ERRORS;
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

/** The `error` frame body, also used as the JSON body of HTTP errors. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  temporary: boolean;
  /** When a retry may succeed (`slow_mode`, `muted` for a time), in milliseconds from now. */
  retryAfterMs?: number;
}

export function errorBody(code: ErrorCode, message?: string, retryAfterMs?: number): ErrorBody {
  const entry = ERRORS[code];
  return { code, message: message ?? entry.message, temporary: entry.temporary, ...(retryAfterMs !== undefined && { retryAfterMs }) };
}

/** An internal error carrying a protocol code, thrown by domain code and turned into frames. */
export class ParleyError extends Error {
  override name = 'ParleyError';
  readonly code: ErrorCode;
  readonly retryAfterMs: number | undefined;
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message ?? ERRORS[code].message, options);
    this.code = code;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** Close codes 4100–4199: reconnecting with the same credentials fails again. */
export const isFatalClose = (code: number): boolean => code >= 4100 && code <= 4199;

const CLOSE_NAMES: Record<number, string> = {
  4000: 'shutdown',
  4001: 'token_expired',
  4002: 'slow_consumer',
  4003: 'rate_limited',
  4004: 'too_many_connections',
  4006: 'disconnected',
  4100: 'unauthorized',
  4101: 'forbidden',
  4102: 'token_revoked',
  4103: 'protocol_violation',
};

/**
 * A failure the application can act on: a server `error` frame (its `code` and `temporary`), a
 * close code (`closeCode` set), or a client-side condition (`queue_full`, `disconnected`,
 * `closed`, `token_failed`).
 */
export class ParleyError extends Error {
  readonly code: string;
  /** True when the same request may succeed later. */
  readonly temporary: boolean;
  /** The WebSocket close code this error comes from, if any. */
  readonly closeCode: number | undefined;
  /** When a retry may succeed (`slow_mode`, a timed `muted` or `banned`), in ms from the error. */
  readonly retryAfterMs: number | undefined;

  constructor(code: string, message: string, temporary: boolean, closeCode?: number, retryAfterMs?: number) {
    super(message);
    this.name = 'ParleyError';
    this.code = code;
    this.temporary = temporary;
    this.closeCode = closeCode;
    this.retryAfterMs = retryAfterMs;
  }

  /** The error an `error` frame reports. */
  static fromFrame(frame: { code: string; message: string; temporary: boolean; retryAfterMs?: number }): ParleyError {
    return new ParleyError(frame.code, frame.message, frame.temporary, undefined, frame.retryAfterMs);
  }

  static fromClose(code: number, reason: string): ParleyError {
    return new ParleyError(CLOSE_NAMES[code] ?? `close_${code}`, reason || `connection closed (${code})`, !isFatalClose(code), code);
  }
}

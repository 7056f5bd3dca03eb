/** Reconnect delays: exponential backoff with full jitter. */
export interface BackoffOptions {
  /** Upper bound of the first delay, in ms (default 500). */
  baseMs?: number;
  /** Largest upper bound, in ms (default 30,000). */
  capMs?: number;
}

export const DEFAULT_BACKOFF_BASE_MS = 500;
export const DEFAULT_BACKOFF_CAP_MS = 30_000;

/**
 * The delay before retry number `attempt` (0 for the first): uniformly random in
 * [0, min(cap, base × 2^attempt)). Full jitter spreads a crowd of clients that lost the same
 * gateway over the whole window instead of sending them back together.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = options.baseMs ?? DEFAULT_BACKOFF_BASE_MS;
  const cap = options.capMs ?? DEFAULT_BACKOFF_CAP_MS;
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

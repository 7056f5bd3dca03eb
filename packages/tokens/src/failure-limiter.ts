/** Failed credential attempts a client may make at once, and how fast the allowance returns. */
export const DEFAULT_FAILURE_BURST = 10;
export const DEFAULT_FAILURE_REFILL_PER_SECOND = 0.2;
/** Attempts a client without recent failures may have in flight at once (a tenant backend minting tokens in parallel). */
export const DEFAULT_MAX_CONCURRENT_ATTEMPTS = 32;
/** Clients tracked at most; the least recently seen are forgotten first. */
export const DEFAULT_FAILURE_MAX_CLIENTS = 10_000;

export interface FailureLimiterOptions {
  /** @default 10 */
  burst?: number;
  /** @default 0.2 (one more attempt every 5 s) */
  refillPerSecond?: number;
  /** @default 32 */
  maxConcurrent?: number;
  /** @default 10000 */
  maxClients?: number;
  now?: () => number;
}

/**
 * Limits failed credential attempts per client (address): a token bucket that only failures
 * drain, and a bound on attempts in flight, so concurrent guesses cannot all pass before the
 * first failure is counted. A client without recent failures may have `maxConcurrent` attempts in
 * flight; one with failures only as many as it has tokens left, and none once they are spent:
 * then every attempt is refused before any credential is looked at (answering a correct guess
 * differently would let a brute force go on unthrottled). Memory is bounded by `maxClients`; no
 * timer runs (refill is computed when a client is seen).
 */
export interface FailureLimiter {
  /**
   * Starts an attempt of `client`: 0 when it may go ahead (then `end` must follow), else the
   * seconds until it may (for `Retry-After`), and nothing was started.
   */
  begin(client: string): number;
  /** The attempt `client` began is over; `failed` when the credential was wrong. */
  end(client: string, failed: boolean): void;
}

interface Entry {
  tokens: number;
  at: number;
  /** Attempts begun and not ended. */
  pending: number;
}

export function createFailureLimiter(options: FailureLimiterOptions = {}): FailureLimiter {
  const burst = options.burst ?? DEFAULT_FAILURE_BURST;
  const rate = options.refillPerSecond ?? DEFAULT_FAILURE_REFILL_PER_SECOND;
  const maxConcurrent = options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_ATTEMPTS;
  const maxClients = options.maxClients ?? DEFAULT_FAILURE_MAX_CLIENTS;
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();

  const refilled = (client: string): Entry | undefined => {
    const entry = entries.get(client);
    if (!entry) return undefined;
    const t = now();
    entry.tokens = Math.min(burst, entry.tokens + ((t - entry.at) / 1000) * rate);
    entry.at = t;
    if (entry.tokens >= burst && entry.pending === 0) {
      entries.delete(client);
      return undefined;
    }
    return entry;
  };

  return {
    begin(client) {
      const entry = refilled(client) ?? { tokens: burst, at: now(), pending: 0 };
      if (entry.tokens < 1) return Math.max(1, Math.ceil((1 - entry.tokens) / rate));
      const inFlight = entry.tokens >= burst ? maxConcurrent : Math.floor(entry.tokens);
      if (entry.pending >= inFlight) return 1;
      entry.pending++;
      // Re-insert so the Map's order is least recently seen first.
      entries.delete(client);
      entries.set(client, entry);
      while (entries.size > maxClients) entries.delete(entries.keys().next().value as string);
      return 0;
    },
    end(client, failed) {
      const entry = refilled(client);
      if (!entry) return;
      entry.pending = Math.max(0, entry.pending - 1);
      if (failed) entry.tokens = Math.max(0, entry.tokens - 1);
      if (entry.tokens >= burst && entry.pending === 0) entries.delete(client);
    },
  };
}

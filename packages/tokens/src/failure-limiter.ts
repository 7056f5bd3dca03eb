/** Failed credential attempts a client may make at once, and how fast the allowance returns. */
export const DEFAULT_FAILURE_BURST = 10;
export const DEFAULT_FAILURE_REFILL_PER_SECOND = 0.2;
/** Clients tracked at most; the least recently seen are forgotten first. */
export const DEFAULT_FAILURE_MAX_CLIENTS = 10_000;

export interface FailureLimiterOptions {
  /** @default 10 */
  burst?: number;
  /** @default 0.2 (one more attempt every 5 s) */
  refillPerSecond?: number;
  /** @default 10000 */
  maxClients?: number;
  now?: () => number;
}

/**
 * A token bucket per client (address) that only failed credential attempts drain. Each attempt
 * takes a token *before* the credential is checked and gives it back when the credential was
 * good, so concurrent guesses cannot all pass the check before the first failure is counted.
 * While a client's bucket is empty, every attempt from it is refused before any credential is
 * looked at (answering a correct guess differently would let a brute force go on unthrottled).
 * Memory is bounded by `maxClients`; no timer runs (refill is computed when a client is seen).
 */
export interface FailureLimiter {
  /**
   * Starts an attempt of `client`: 0 when it may go ahead (the attempt counts as failed until
   * `succeeded`), else the seconds until it may (for `Retry-After`), and nothing is taken.
   */
  begin(client: string): number;
  /** The attempt `client` began was not a failed credential: its token is given back. */
  succeeded(client: string): void;
}

interface Bucket {
  tokens: number;
  at: number;
}

export function createFailureLimiter(options: FailureLimiterOptions = {}): FailureLimiter {
  const burst = options.burst ?? DEFAULT_FAILURE_BURST;
  const rate = options.refillPerSecond ?? DEFAULT_FAILURE_REFILL_PER_SECOND;
  const maxClients = options.maxClients ?? DEFAULT_FAILURE_MAX_CLIENTS;
  const now = options.now ?? Date.now;
  const buckets = new Map<string, Bucket>();

  const refilled = (client: string): Bucket | undefined => {
    const bucket = buckets.get(client);
    if (!bucket) return undefined;
    const t = now();
    bucket.tokens = Math.min(burst, bucket.tokens + ((t - bucket.at) / 1000) * rate);
    bucket.at = t;
    if (bucket.tokens >= burst) {
      buckets.delete(client);
      return undefined;
    }
    return bucket;
  };

  return {
    begin(client) {
      const bucket = refilled(client) ?? { tokens: burst, at: now() };
      if (bucket.tokens < 1) return Math.max(1, Math.ceil((1 - bucket.tokens) / rate));
      bucket.tokens -= 1;
      // Re-insert so the Map's order is least recently seen first.
      buckets.delete(client);
      buckets.set(client, bucket);
      while (buckets.size > maxClients) buckets.delete(buckets.keys().next().value as string);
      return 0;
    },
    succeeded(client) {
      const bucket = refilled(client);
      if (!bucket) return;
      bucket.tokens = Math.min(burst, bucket.tokens + 1);
      if (bucket.tokens >= burst) buckets.delete(client);
    },
  };
}

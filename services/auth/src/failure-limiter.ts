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
 * A token bucket per client (IP) that only failed attempts drain. While a client's bucket is
 * empty, every attempt from it is refused before any credential is checked: answering a correct
 * guess differently would let a brute force go on unthrottled. Memory is bounded by `maxClients`;
 * no timer runs (refill is computed when a client is seen).
 */
export interface FailureLimiter {
  /** 0 when `client` may attempt now, else the seconds until it may (for `Retry-After`). */
  retryAfterSeconds(client: string): number;
  /** Counts one failed attempt of `client`. */
  recordFailure(client: string): void;
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

  const current = (client: string): Bucket | undefined => {
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
    retryAfterSeconds(client) {
      const bucket = current(client);
      if (!bucket || bucket.tokens >= 1) return 0;
      return Math.max(1, Math.ceil((1 - bucket.tokens) / rate));
    },
    recordFailure(client) {
      const bucket = current(client) ?? { tokens: burst, at: now() };
      bucket.tokens = Math.max(0, bucket.tokens - 1);
      // Re-insert so the Map's order is least recently seen first.
      buckets.delete(client);
      buckets.set(client, bucket);
      while (buckets.size > maxClients) {
        const oldest = buckets.keys().next().value as string;
        buckets.delete(oldest);
      }
    },
  };
}

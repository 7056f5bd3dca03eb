/**
 * A token bucket: `rate` tokens per second refill up to `burst`. `take()` spends one token and
 * says whether one was there. Time is read lazily on each call, so idle buckets cost nothing.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly rate: number;
  private readonly burst: number;

  /** `startTokens` (default: a full bucket) lets a replacement bucket keep what its predecessor had spent. */
  constructor(rate: number, burst: number, now = performance.now(), startTokens = burst) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = Math.min(burst, startTokens);
    this.last = now;
  }

  /** Tokens available now (after the refill since the last call). */
  available(now = performance.now()): number {
    return Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
  }

  take(now = performance.now()): boolean {
    const elapsed = (now - this.last) / 1000;
    this.last = now;
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.rate);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

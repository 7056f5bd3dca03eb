/**
 * A token bucket: `rate` tokens per second refill up to `burst`. `take()` spends one token and
 * says whether one was there. Time is read lazily on each call, so idle buckets cost nothing.
 */
export class TokenBucket {
  private tokens: number;
  /** Tokens granted beyond `burst` (see `credit`), spent first. */
  private extra = 0;
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
    if (this.extra >= 1) {
      this.extra -= 1;
      return true;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Grants what `seconds` of refill would have allowed, beyond `burst`: the process was stalled
   * that long, and frames the client sent at an allowed pace meanwhile now arrive at once.
   */
  credit(seconds: number) {
    this.extra = Math.min(this.extra + seconds * this.rate, this.rate * MAX_CREDIT_SECONDS);
  }
}

/** A stall longer than this earns no more credit (beyond it clients have usually given up anyway). */
const MAX_CREDIT_SECONDS = 120;

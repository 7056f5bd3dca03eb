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

  constructor(rate: number, burst: number, now = performance.now()) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.last = now;
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

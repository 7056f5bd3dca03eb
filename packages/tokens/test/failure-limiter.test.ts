import { describe, expect, it } from 'vitest';
import { createFailureLimiter } from '../src/failure-limiter.ts';

describe('failed-credential limiter', () => {
  it('limiter - failures drain a bucket per client that refills over time', () => {
    let now = 0;
    const limiter = createFailureLimiter({ burst: 2, refillPerSecond: 1, now: () => now });
    expect(limiter.begin('a')).toBe(0);
    expect(limiter.begin('a')).toBe(0);
    expect(limiter.begin('a')).toBe(1);
    expect(limiter.begin('b')).toBe(0);
    now = 1000;
    expect(limiter.begin('a')).toBe(0);
    expect(limiter.begin('a')).toBe(1);
  });

  it('limiter - an attempt takes its token before the check: concurrent guesses cannot all pass', () => {
    const limiter = createFailureLimiter({ burst: 3, refillPerSecond: 0.001, now: () => 0 });
    // Ten attempts begin before any of them is known to have failed.
    const admitted = Array.from({ length: 10 }, () => limiter.begin('guesser')).filter((wait) => wait === 0);
    expect(admitted).toHaveLength(3);
  });

  it('limiter - a good credential gives its token back, so valid traffic is never limited', () => {
    const limiter = createFailureLimiter({ burst: 2, refillPerSecond: 0.001, now: () => 0 });
    for (let i = 0; i < 100; i++) {
      expect(limiter.begin('app')).toBe(0);
      limiter.succeeded('app');
    }
    expect(limiter.begin('app')).toBe(0); // one failure
    expect(limiter.begin('app')).toBe(0);
    limiter.succeeded('app');
    expect(limiter.begin('app')).toBe(0);
    expect(limiter.begin('app')).toBeGreaterThan(0); // two failures: the bucket is empty
  });

  it('limiter - memory is bounded: the least recently seen clients are forgotten', () => {
    const limiter = createFailureLimiter({ burst: 1, refillPerSecond: 0.001, maxClients: 2, now: () => 0 });
    for (const c of ['a', 'b', 'c']) limiter.begin(c);
    expect(limiter.begin('c')).toBeGreaterThan(0);
    expect(limiter.begin('b')).toBeGreaterThan(0);
    expect(limiter.begin('a')).toBe(0); // forgotten, so a fresh allowance
  });
});

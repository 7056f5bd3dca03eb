import { describe, expect, it } from 'vitest';
import { createFailureLimiter } from '../src/failure-limiter.ts';

describe('failed-credential limiter', () => {
  it('limiter - failures drain a bucket per client that refills over time', () => {
    let now = 0;
    const limiter = createFailureLimiter({ burst: 2, refillPerSecond: 1, now: () => now });
    for (let i = 0; i < 2; i++) {
      expect(limiter.begin('a')).toBe(0);
      limiter.end('a', true);
    }
    expect(limiter.begin('a')).toBe(1);
    expect(limiter.begin('b')).toBe(0);
    now = 1000;
    expect(limiter.begin('a')).toBe(0);
    limiter.end('a', true);
    expect(limiter.begin('a')).toBe(1);
  });

  it('limiter - concurrent guesses cannot all pass: a clean client has maxConcurrent in flight, one with failures only its tokens', () => {
    const limiter = createFailureLimiter({ burst: 3, refillPerSecond: 0.001, maxConcurrent: 8, now: () => 0 });
    // A first wave, before any failure is known: bounded by maxConcurrent.
    const wave = Array.from({ length: 20 }, () => limiter.begin('guesser'));
    expect(wave.filter((wait) => wait === 0)).toHaveLength(8);
    for (let i = 0; i < 8; i++) limiter.end('guesser', true);
    // Every token spent: nothing more is checked.
    expect(limiter.begin('guesser')).toBeGreaterThan(1);
  });

  it('limiter - a client with one failure may have only as many attempts in flight as tokens left', () => {
    const limiter = createFailureLimiter({ burst: 3, refillPerSecond: 0.001, maxConcurrent: 8, now: () => 0 });
    expect(limiter.begin('c')).toBe(0);
    limiter.end('c', true);
    expect([limiter.begin('c'), limiter.begin('c'), limiter.begin('c')]).toEqual([0, 0, 1]);
  });

  it('limiter - good credentials never use the allowance: a backend keeps maxConcurrent requests in flight for ever', () => {
    const limiter = createFailureLimiter({ burst: 2, refillPerSecond: 0.001, maxConcurrent: 32, now: () => 0 });
    for (let round = 0; round < 50; round++) {
      const started = Array.from({ length: 32 }, () => limiter.begin('app'));
      expect(started.every((wait) => wait === 0)).toBe(true);
      for (let i = 0; i < 32; i++) limiter.end('app', false);
    }
  });

  it('limiter - memory is bounded: the least recently seen clients are forgotten', () => {
    const limiter = createFailureLimiter({ burst: 1, refillPerSecond: 0.001, maxClients: 2, now: () => 0 });
    for (const c of ['a', 'b', 'c']) {
      limiter.begin(c);
      limiter.end(c, true);
    }
    expect(limiter.begin('c')).toBeGreaterThan(0);
    expect(limiter.begin('b')).toBeGreaterThan(0);
    expect(limiter.begin('a')).toBe(0); // forgotten, so a fresh allowance
  });
});

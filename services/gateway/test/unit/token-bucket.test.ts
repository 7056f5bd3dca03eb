import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/domain/token-bucket.ts';

describe('token bucket', () => {
  it('token bucket - a credit for a stall lets through what the rate allowed during it, beyond the burst, once', () => {
    const bucket = new TokenBucket(10, 5, 0);
    let passed = 0;
    for (let i = 0; i < 40; i++) if (bucket.take(0)) passed++;
    expect(passed).toBe(5);
    bucket.credit(2); // two seconds at 10/s
    passed = 0;
    for (let i = 0; i < 40; i++) if (bucket.take(0)) passed++;
    expect(passed).toBe(20);
    expect(bucket.take(0)).toBe(false);
  });
});

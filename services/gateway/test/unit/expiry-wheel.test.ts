import { describe, expect, it } from 'vitest';
import { createExpiryWheel } from '../../src/domain/expiry-wheel.ts';

async function until(condition: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

describe('expiry wheel', () => {
  it('expiry - hands over each item once its exp has passed, and never a removed one', async () => {
    const expired: string[] = [];
    const wheel = createExpiryWheel<string>((item) => expired.push(item), 20);
    const now = Math.floor(Date.now() / 1000);
    try {
      wheel.add('past', now - 5);
      wheel.add('also-past', now - 5);
      wheel.add('removed', now - 1);
      wheel.add('future', now + 3600);
      wheel.remove('removed', now - 1);
      expect(wheel.size()).toBe(3);
      // Items of one second are handed over together: 'removed' would come with these two.
      await until(() => expired.length >= 2);
      expect(expired.sort()).toEqual(['also-past', 'past']);
      expect(wheel.size()).toBe(1);
      // A refresh moves an item: removed from its old second, added at the new one.
      wheel.remove('future', now + 3600);
      wheel.add('future', now - 1);
      await until(() => expired.length >= 3);
      expect(expired.sort()).toEqual(['also-past', 'future', 'past']);
      expect(wheel.size()).toBe(0);
    } finally {
      wheel.close();
    }
  });
});

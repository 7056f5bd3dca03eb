import { describe, expect, it } from 'vitest';
import { PublishDedupe, publishMsgId } from '../../src/domain/publish-dedupe.ts';

function dedupe(windowMs: number, max: number) {
  const counts = { duplicate: 0, evicted: 0 };
  const d = new PublishDedupe({ duplicate: () => counts.duplicate++, evicted: () => counts.evicted++ }, windowMs, max);
  return { d, counts };
}

describe('publish dedupe', () => {
  it('dedupe - a repeat within the window is seen, after it is new; tenants are apart', () => {
    const { d, counts } = dedupe(1000, 10);
    expect(d.seen('acme', 'a', 0)).toBe(false);
    expect(d.seen('acme', 'a', 999)).toBe(true);
    expect(d.seen('other', 'a', 999)).toBe(false);
    expect(d.seen('acme', 'a', 1000)).toBe(false);
    expect(counts).toEqual({ duplicate: 1, evicted: 0 });
  });

  it('dedupe - the per-tenant bound forgets the oldest first and counts it; a failed publish is forgotten', () => {
    const { d, counts } = dedupe(60_000, 3);
    for (const id of ['a', 'b', 'c', 'd']) expect(d.seen('acme', id, 0)).toBe(false);
    expect(counts.evicted).toBe(1);
    expect(d.size).toBe(3);
    expect(d.seen('acme', 'a', 1)).toBe(false); // forgotten early: a resend would go through
    d.forget('acme', 'd');
    expect(d.seen('acme', 'd', 2)).toBe(false);
  });

  it('dedupe - the msgId of a publish id depends on the user and the id only', () => {
    expect(publishMsgId('ann', 'p1')).toBe(publishMsgId('ann', 'p1'));
    expect(publishMsgId('ann', 'p1')).not.toBe(publishMsgId('ben', 'p1'));
    expect(publishMsgId('ann', 'p1')).not.toBe(publishMsgId('ann\u0000p', '1'));
    expect(publishMsgId('ann', 'p1')).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});

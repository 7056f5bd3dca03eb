import { describe, expect, it } from 'vitest';
import { RecentMessages } from '../../src/domain/recent-messages.ts';

const frame = (seq: number, size = 10) => new Uint8Array(size).fill(seq % 256);
/** Retention that takes nothing. */
const ALL = { maxMessages: Number.MAX_SAFE_INTEGER, oldestMs: 0 };
const NOW = 1_000_000;
const seqsOf = (frames: Uint8Array[] | undefined) => frames?.map((f) => f[0]);

describe('recent messages', () => {
  it('recent messages - answers what came after a seq it covers, oldest first; nothing for a seq it does not cover or has not reached', () => {
    const recent = new RecentMessages(100, 4);
    expect(recent.after(100, 100, ALL)).toEqual([]);
    for (const seq of [103, 107, 110]) recent.push(seq, frame(seq), NOW);
    expect(seqsOf(recent.after(100, 110, ALL))).toEqual([103, 107, 110]);
    expect(seqsOf(recent.after(105, 110, ALL))).toEqual([107, 110]);
    expect(recent.after(110, 110, ALL)).toEqual([]);
    expect(recent.after(99, 110, ALL)).toBeUndefined();
    expect(recent.after(111, 110, ALL)).toBeUndefined();
  });

  it('recent messages - keeps at most its count and bytes: dropping the oldest moves what it covers', () => {
    const byCount = new RecentMessages(0, 3);
    for (let seq = 1; seq <= 5; seq++) byCount.push(seq, frame(seq), NOW);
    expect(byCount.coveredAfter).toBe(2);
    expect(seqsOf(byCount.after(2, 5, ALL))).toEqual([3, 4, 5]);
    expect(byCount.after(1, 5, ALL)).toBeUndefined();

    const byBytes = new RecentMessages(0, 100, 25);
    for (let seq = 1; seq <= 4; seq++) byBytes.push(seq, frame(seq), NOW);
    expect(seqsOf(byBytes.after(byBytes.coveredAfter, 4, ALL))).toEqual([3, 4]);
    byBytes.push(5, frame(5, 40), NOW);
    expect(byBytes.coveredAfter).toBe(5);
    expect(byBytes.after(5, 5, ALL)).toEqual([]);
  });

  it('recent messages - defers to the store when retention would have taken some of the answer (more than the room keeps, or too old)', () => {
    const recent = new RecentMessages(0);
    for (let seq = 1; seq <= 10; seq++) recent.push(seq, frame(seq), NOW + seq * 1000);
    expect(seqsOf(recent.after(7, 10, { maxMessages: 3, oldestMs: 0 }))).toEqual([8, 9, 10]);
    expect(recent.after(6, 10, { maxMessages: 3, oldestMs: 0 })).toBeUndefined();
    expect(seqsOf(recent.after(4, 10, { maxMessages: 100, oldestMs: NOW + 5000 }))).toEqual([5, 6, 7, 8, 9, 10]);
    expect(recent.after(3, 10, { maxMessages: 100, oldestMs: NOW + 5000 })).toBeUndefined();
    expect(recent.after(10, 10, { maxMessages: 1, oldestMs: NOW + 60_000 })).toEqual([]);
  });

  it('recent messages - stays exact over many thousands of messages', () => {
    const recent = new RecentMessages(0, 256);
    for (let seq = 1; seq <= 10_000; seq++) recent.push(seq * 2, frame(seq), NOW);
    expect(recent.coveredAfter).toBe((10_000 - 256) * 2);
    expect(recent.after(19_990, 20_000, ALL)?.length).toBe(5);
  });
});

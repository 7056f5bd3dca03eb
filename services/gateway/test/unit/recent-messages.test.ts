import { describe, expect, it } from 'vitest';
import { RecentMessages } from '../../src/domain/recent-messages.ts';

const frame = (seq: number, size = 10) => new Uint8Array(size).fill(seq % 256);
const seqsOf = (frames: Uint8Array[] | undefined) => frames?.map((f) => f[0]);

describe('recent messages', () => {
  it('recent messages - answers what came after a seq it covers, oldest first; nothing for a seq it does not cover or has not reached', () => {
    const recent = new RecentMessages(100, 4);
    expect(recent.after(100, 100)).toEqual([]);
    for (const seq of [103, 107, 110]) recent.push(seq, frame(seq));
    expect(seqsOf(recent.after(100, 110))).toEqual([103, 107, 110]);
    expect(seqsOf(recent.after(105, 110))).toEqual([107, 110]);
    expect(recent.after(110, 110)).toEqual([]);
    expect(recent.after(99, 110)).toBeUndefined();
    expect(recent.after(111, 110)).toBeUndefined();
  });

  it('recent messages - keeps at most its count and bytes: dropping the oldest moves what it covers', () => {
    const byCount = new RecentMessages(0, 3);
    for (let seq = 1; seq <= 5; seq++) byCount.push(seq, frame(seq));
    expect(byCount.coveredAfter).toBe(2);
    expect(seqsOf(byCount.after(2, 5))).toEqual([3, 4, 5]);
    expect(byCount.after(1, 5)).toBeUndefined();

    const byBytes = new RecentMessages(0, 100, 25);
    for (let seq = 1; seq <= 4; seq++) byBytes.push(seq, frame(seq));
    expect(seqsOf(byBytes.after(byBytes.coveredAfter, 4))).toEqual([3, 4]);
    byBytes.push(5, frame(5, 40));
    expect(byBytes.coveredAfter).toBe(5);
    expect(byBytes.after(5, 5)).toEqual([]);
  });

  it('recent messages - stays exact over many thousands of messages', () => {
    const recent = new RecentMessages(0, 256);
    for (let seq = 1; seq <= 10_000; seq++) recent.push(seq * 2, frame(seq));
    expect(recent.coveredAfter).toBe((10_000 - 256) * 2);
    expect(recent.after(19_990, 20_000)?.length).toBe(5);
  });
});

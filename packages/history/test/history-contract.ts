import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_HISTORY_RETENTION, withSeq, type HistoryRetention, type HistoryStore, type StoredMessage } from '../src/index.ts';

export interface HistoryHarness {
  store: HistoryStore;
  /** Lets `ms` of time pass for retention by age (a fake clock, or nothing for a real one). */
  elapse(ms: number): void;
  teardown(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const frame = (room: string, i: number, pad = 0) => encoder.encode(JSON.stringify({ type: 'message', room, msgId: randomUUID(), data: { i, pad: 'x'.repeat(pad) }, ts: Date.now() }));
const indexOf = (m: StoredMessage) => (JSON.parse(decoder.decode(m.data)) as { data: { i: number } }).data.i;

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The history contract: every implementation of `HistoryStore` passes it unchanged. */
export function runHistoryContract(name: string, start: () => Promise<HistoryHarness>) {
  describe(`history contract (${name})`, () => {
    let h: HistoryHarness;
    let tenantCounter = 0;
    beforeAll(async () => {
      h = await start();
    });
    afterAll(async () => {
      await h.teardown();
    });

    /** A fresh tenant per test, so tests do not see each other's messages. */
    const tenant = async (retention: Partial<HistoryRetention> = {}, version = 1) => {
      const ns = `t${++tenantCounter}-${randomUUID().slice(0, 6)}`;
      await h.store.ensure({ ns, retention: { ...DEFAULT_HISTORY_RETENTION, ...retention }, version });
      return ns;
    };
    const append = (ns: string, room: string, i: number, pad = 0) => h.store.append(ns, room, frame(room, i, pad), { msgId: randomUUID() });

    it(`${name} - sequences increase across the rooms of a tenant and reads keep rooms apart`, async () => {
      const ns = await tenant();
      const seqs = [];
      for (let i = 0; i < 10; i++) seqs.push(await append(ns, i % 2 === 0 ? 'even' : 'odd', i));
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1] as number);
      const even = await h.store.after(ns, 'even', 0, 100);
      expect(even.messages.map(indexOf)).toEqual([0, 2, 4, 6, 8]);
      expect(even.messages.map((m) => m.seq)).toEqual([seqs[0], seqs[2], seqs[4], seqs[6], seqs[8]]);
      expect(even.more).toBe(false);
      expect(await h.store.position(ns)).toBe(seqs[9]);
    });

    it(`${name} - a deleted message is gone from every read, a resume sees no gap, and only the room's own seq can be deleted`, async () => {
      const ns = await tenant();
      const seqs = [];
      for (let i = 0; i < 5; i++) seqs.push(await append(ns, 'room', i));
      const other = await append(ns, 'other', 99);
      expect(await h.store.delete(ns, 'room', other)).toBe(false);
      expect(await h.store.delete(ns, 'room', (seqs[4] as number) + 1000)).toBe(false);
      expect(await h.store.delete(ns, 'room', seqs[2] as number)).toBe(true);
      expect(await h.store.delete(ns, 'room', seqs[2] as number)).toBe(false);
      expect((await h.store.after(ns, 'room', 0, 100)).messages.map(indexOf)).toEqual([0, 1, 3, 4]);
      expect((await h.store.latest(ns, 'room', 100)).messages.map(indexOf)).toEqual([0, 1, 3, 4]);
      expect((await h.store.before(ns, 'room', seqs[4] as number, 100)).messages.map(indexOf)).toEqual([0, 1, 3]);
      const resume = await h.store.checkResume(ns, 'room', seqs[1] as number);
      expect(resume.gap).toBe(false);
      expect(resume.pending).toBe(2);
      expect((await h.store.after(ns, 'other', 0, 10)).messages.map(indexOf)).toEqual([99]);
      expect(await h.store.delete(`${ns}-none`, 'room', 1)).toBe(false);
    });

    it(`${name} - an append retried with the same msgId is stored once and answers the first seq`, async () => {
      const ns = await tenant();
      const data = frame('r', 1);
      const first = await h.store.append(ns, 'r', data, { msgId: 'same-id' });
      const again = await h.store.append(ns, 'r', data, { msgId: 'same-id' });
      expect(again).toBe(first);
      expect((await h.store.after(ns, 'r', 0, 10)).messages).toHaveLength(1);
    });

    it(`${name} - after pages forward and latest returns the newest, oldest first, with more`, async () => {
      const ns = await tenant();
      for (let i = 0; i < 25; i++) {
        await append(ns, 'room', i);
        await append(ns, 'other', i);
      }
      const pages: number[][] = [];
      let after = 0;
      for (;;) {
        const page = await h.store.after(ns, 'room', after, 10);
        pages.push(page.messages.map(indexOf));
        after = page.messages.at(-1)?.seq ?? after;
        if (!page.more) break;
      }
      expect(pages).toEqual([[...Array(10).keys()], [...Array(10).keys()].map((i) => i + 10), [20, 21, 22, 23, 24]]);
      const latest = await h.store.latest(ns, 'room', 5);
      expect(latest.messages.map(indexOf)).toEqual([20, 21, 22, 23, 24]);
      expect(latest.more).toBe(true);
      const all = await h.store.latest(ns, 'room', 100);
      expect(all.messages).toHaveLength(25);
      expect(all.more).toBe(false);
      expect(await h.store.latest(ns, 'empty', 5)).toEqual({ messages: [], more: false });
    });

    it(`${name} - before pages backwards from the newest page, newest first per page, each oldest first`, async () => {
      const ns = await tenant();
      for (let i = 0; i < 25; i++) {
        await append(ns, 'room', i);
        await append(ns, 'other', i);
      }
      const pages: number[][] = [];
      let page = await h.store.latest(ns, 'room', 10);
      pages.push(page.messages.map(indexOf));
      while (page.more) {
        page = await h.store.before(ns, 'room', page.messages[0]!.seq, 10);
        pages.push(page.messages.map(indexOf));
      }
      expect(pages).toEqual([[...Array(10).keys()].map((i) => i + 15), [...Array(10).keys()].map((i) => i + 5), [0, 1, 2, 3, 4]]);
      expect(await h.store.before(ns, 'room', 1, 10)).toEqual({ messages: [], more: false });
      expect(await h.store.before(ns, 'empty', 100, 10)).toEqual({ messages: [], more: false });
    });

    it(`${name} - latest finds a quiet room's messages behind a busy room's`, async () => {
      const ns = await tenant();
      for (let i = 0; i < 4; i++) await append(ns, 'quiet', i);
      await Promise.all(Array.from({ length: 600 }, (_, i) => append(ns, 'busy', i)));
      const latest = await h.store.latest(ns, 'quiet', 3);
      expect(latest.messages.map(indexOf)).toEqual([1, 2, 3]);
      expect(latest.more).toBe(true);
      expect((await h.store.latest(ns, 'busy', 7)).messages.map(indexOf)).toHaveLength(7);
    });

    it(`${name} - retention by count keeps the newest messages of each room; resuming before them is a gap`, async () => {
      const ns = await tenant({ maxMessagesPerRoom: 5 });
      const seqs = [];
      for (let i = 0; i < 8; i++) seqs.push(await append(ns, 'r', i));
      await append(ns, 'small', 0);
      expect((await h.store.latest(ns, 'r', 100)).messages.map(indexOf)).toEqual([3, 4, 5, 6, 7]);
      expect((await h.store.after(ns, 'small', 0, 10)).messages).toHaveLength(1);
      expect(await h.store.checkResume(ns, 'r', seqs[0] as number)).toMatchObject({ gap: true });
      expect(await h.store.checkResume(ns, 'r', seqs[4] as number)).toMatchObject({ gap: false, pending: 3 });
      expect(await h.store.checkResume(ns, 'r', seqs[7] as number)).toMatchObject({ gap: false, pending: 0 });
    });

    it(`${name} - retention by age drops old messages; resuming from before them is a gap`, async () => {
      const ns = await tenant({ maxAgeSeconds: 1 });
      const seqs = [];
      for (let i = 0; i < 3; i++) seqs.push(await append(ns, 'r', i));
      expect(await h.store.checkResume(ns, 'r', 0)).toMatchObject({ gap: false, pending: 3 });
      h.elapse(1500);
      await eventually(async () => (await h.store.latest(ns, 'r', 10)).messages.length === 0, 'messages to expire');
      expect(await h.store.checkResume(ns, 'r', 0)).toMatchObject({ gap: true, pending: 0 });
      expect(await h.store.checkResume(ns, 'r', seqs[2] as number)).toMatchObject({ gap: false, pending: 0 });
      const next = await append(ns, 'r', 3);
      expect(next).toBeGreaterThan(seqs[2] as number);
      expect(await h.store.checkResume(ns, 'r', seqs[2] as number)).toMatchObject({ gap: false, pending: 1 });
    });

    it(`${name} - retention by tenant bytes drops the oldest messages of any room first`, async () => {
      const ns = await tenant({ maxBytes: 4096 });
      const seqs: number[] = [];
      for (let i = 0; i < 60; i++) seqs.push(await append(ns, i % 3 === 0 ? 'a' : 'b', i, 100));
      const a = (await h.store.after(ns, 'a', 0, 100)).messages;
      const b = (await h.store.after(ns, 'b', 0, 100)).messages;
      const kept = [...a, ...b].map((m) => m.seq).sort((x, y) => x - y);
      expect(kept.length).toBeGreaterThan(0);
      expect(kept.length).toBeLessThan(60);
      // What is kept is the newest suffix of the tenant's log, whatever the room.
      expect(kept).toEqual(seqs.slice(seqs.length - kept.length));
      expect(await h.store.checkResume(ns, 'a', 0)).toMatchObject({ gap: true });
    });

    it(`${name} - tenants have separate logs, sequences and rooms`, async () => {
      const one = await tenant();
      const two = await tenant();
      await append(one, 'same', 1);
      await append(one, 'same', 2);
      await append(two, 'same', 3);
      expect((await h.store.after(one, 'same', 0, 10)).messages.map(indexOf)).toEqual([1, 2]);
      expect((await h.store.after(two, 'same', 0, 10)).messages.map(indexOf)).toEqual([3]);
      expect(await h.store.position(two)).toBe(1);
      expect(await h.store.position(`never-${randomUUID().slice(0, 6)}`)).toBe(0);
    });

    it(`${name} - a resume from beyond the log (a reset) is a gap`, async () => {
      const ns = await tenant();
      const seq = await append(ns, 'r', 0);
      expect(await h.store.checkResume(ns, 'r', seq + 100)).toEqual({ gap: true, pending: 0, last: seq });
      expect(await h.store.checkResume(ns, 'r', 0)).toMatchObject({ gap: false, pending: 1 });
    });

    it(`${name} - a follower gets the stored messages after its start, then live ones, once and in order`, async () => {
      const ns = await tenant();
      const seqs = [];
      for (let i = 0; i < 5; i++) seqs.push(await append(ns, 'r', i));
      await append(ns, 'elsewhere', 99);
      const got: StoredMessage[] = [];
      const other: StoredMessage[] = [];
      const follower = await h.store.follow(ns, 'r', seqs[1] as number, { message: (m) => got.push(m), error: () => {} });
      const second = await h.store.follow(ns, 'r', await h.store.position(ns), { message: (m) => other.push(m), error: () => {} });
      for (let i = 5; i < 8; i++) await append(ns, 'r', i);
      await eventually(async () => got.length >= 6 && other.length >= 3, 'followed messages');
      expect(got.map(indexOf)).toEqual([2, 3, 4, 5, 6, 7]);
      expect(other.map(indexOf)).toEqual([5, 6, 7]);
      expect(other.map((m) => m.seq)).toEqual(got.slice(3).map((m) => m.seq));
      follower.stop();
      second.stop();
      await append(ns, 'r', 8);
      await new Promise((r) => setTimeout(r, 100));
      expect(got).toHaveLength(6);
    });

    it(`${name} - newer retention settings apply and an older version does not undo them`, async () => {
      const ns = await tenant({ maxMessagesPerRoom: 100 }, 10);
      await h.store.ensure({ ns, retention: { ...DEFAULT_HISTORY_RETENTION, maxMessagesPerRoom: 3 }, version: 11 });
      await h.store.ensure({ ns, retention: { ...DEFAULT_HISTORY_RETENTION, maxMessagesPerRoom: 100 }, version: 10 });
      for (let i = 0; i < 6; i++) await append(ns, 'r', i);
      expect((await h.store.latest(ns, 'r', 100)).messages.map(indexOf)).toEqual([3, 4, 5]);
    });

    it(`${name} - withSeq adds the seq to the stored frame bytes`, () => {
      const bytes = withSeq(encoder.encode('{"type":"message","room":"r"}'), 42);
      expect(JSON.parse(decoder.decode(bytes))).toEqual({ seq: 42, type: 'message', room: 'r' });
      expect(JSON.parse(decoder.decode(withSeq(encoder.encode('{}'), 1)))).toEqual({ seq: 1 });
    });
  });
}

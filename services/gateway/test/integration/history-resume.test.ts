import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, type TestKeys } from '../support.ts';
import { messagesOf, publishMany, seqsOf, startHistoryBackend, until, type HistoryBackend } from '../history-support.ts';

const FAST = { messagesPerSecond: 100_000, burst: 100_000 };
/** Enough room history for everything these tests publish (the default keeps 1,000 per room). */
const RETENTION = { maxMessagesPerRoom: 10_000 };

describe.each(['jetstream', 'memory'] as const)('resume on %s', (backendName) => {
  let keys: TestKeys;
  let backend: HistoryBackend;
  let first: string;
  let second: string;
  let secondGateway: Awaited<ReturnType<HistoryBackend['gateway']>>;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    keys = await createTestKeys();
    backend = await startHistoryBackend(backendName, keys);
    first = (await backend.gateway()).wsUrl;
    secondGateway = await backend.gateway();
    second = secondGateway.wsUrl;
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await backend.stop();
  });

  const connect = async (url: string, user: string) => {
    const client = await join(url, await mintToken(keys, { sub: user, hist: true, hret: RETENTION, lim: FAST }));
    clients.push(client);
    return client;
  };

  it(`resume (${backendName}) - 1,000 messages missed while away arrive on another gateway exactly once, in order, then live ones with no seam`, async () => {
    const publisher = await connect(first, 'publisher');
    const reader = await connect(first, 'reader');
    const joined = await reader.request({ type: 'join', room: 'long' });
    const before = await publishMany(publisher, 'long', 0, 5);
    await until(() => messagesOf(reader, 'long').length === 5, 'the first messages');
    expect(seqsOf(reader, 'long')).toEqual(before);
    const lastSeen = Math.max(joined.seq as number, ...seqsOf(reader, 'long'));
    await reader.close();

    const missed = await publishMany(publisher, 'long', 5, 1000);

    // Back on the other gateway, while the publisher keeps going: the seam is crossed under load.
    const back = await connect(second, 'reader');
    const live = publishMany(publisher, 'long', 1005, 200);
    const resumed = await back.request({ type: 'join', room: 'long', since: lastSeen });
    expect(resumed).toMatchObject({ type: 'joined', room: 'long', seq: lastSeen });
    const during = await live;
    await until(() => messagesOf(back, 'long').length >= 1200, 'the replay and the live messages', 30_000);
    const after = await publishMany(publisher, 'long', 1205, 10);
    await until(() => messagesOf(back, 'long').length >= 1210, 'the messages after the resume');
    expect(seqsOf(back, 'long')).toEqual([...missed, ...during, ...after]);
    expect(messagesOf(back, 'long').map((m) => (m.data as { i: number }).i)).toEqual([...Array(1210).keys()].map((i) => i + 5));
    expect(back.all('error')).toEqual([]);
  });

  it(`resume (${backendName}) - a member resuming where the room's feed still holds what it missed is served from memory, exactly once, in order, with no seam; one that missed more reads the store`, async () => {
    const resumes = async (source: 'memory' | 'store') => {
      const line = (await secondGateway.registry.metrics()).split('\n').find((l) => l.startsWith('parley_gateway_history_resumes_total{') && l.includes(`source="${source}"`));
      return Number(line?.split(' ').pop() ?? 0);
    };
    const publisher = await connect(first, 'poster');
    const watcher = await connect(second, 'watcher');
    await watcher.request({ type: 'join', room: 'recent' });
    const reader = await connect(first, 'returner');
    const joined = await reader.request({ type: 'join', room: 'recent' });
    const before = await publishMany(publisher, 'recent', 0, 5);
    await until(() => messagesOf(reader, 'recent').length === 5 && messagesOf(watcher, 'recent').length === 5, 'the first messages');
    const lastSeen = Math.max(joined.seq as number, ...seqsOf(reader, 'recent'));
    expect(seqsOf(reader, 'recent')).toEqual(before);
    await reader.close();

    const missed = await publishMany(publisher, 'recent', 5, 50);
    await until(() => messagesOf(watcher, 'recent').length === 55, 'the watcher on the second gateway to get the missed messages');
    const [memoryBefore, storeBefore] = [await resumes('memory'), await resumes('store')];
    const back = await connect(second, 'returner');
    const live = publishMany(publisher, 'recent', 55, 100);
    const resumed = await back.request({ type: 'join', room: 'recent', since: lastSeen });
    expect(resumed).toMatchObject({ type: 'joined', room: 'recent', seq: lastSeen });
    const during = await live;
    await until(() => messagesOf(back, 'recent').length >= 150, 'the missed and the live messages');
    expect(seqsOf(back, 'recent')).toEqual([...missed, ...during]);
    expect(await resumes('memory')).toBe(memoryBefore + 1);
    expect(await resumes('store')).toBe(storeBefore);

    // More than the feed keeps (256 messages): the store answers, just as exactly.
    const lastOfBack = seqsOf(back, 'recent').at(-1) as number;
    await back.close();
    const many = await publishMany(publisher, 'recent', 155, 300);
    await until(() => messagesOf(watcher, 'recent').length === 455, 'the watcher to get 300 more');
    const again = await connect(second, 'returner');
    expect(await again.request({ type: 'join', room: 'recent', since: lastOfBack })).toMatchObject({ type: 'joined', seq: lastOfBack });
    await until(() => messagesOf(again, 'recent').length >= 300, 'the 300 missed messages from the store');
    expect(seqsOf(again, 'recent')).toEqual(many);
    expect(await resumes('store')).toBe(storeBefore + 1);
    expect([...back.all('error'), ...again.all('error')]).toEqual([]);
  });

  it(`resume (${backendName}) - members of one room on two gateways see the same messages with the same seqs in the same order`, async () => {
    const a = await connect(first, 'ann');
    const b = await connect(second, 'ben');
    await a.request({ type: 'join', room: 'both' });
    await b.request({ type: 'join', room: 'both' });
    const [fromA, fromB] = await Promise.all([publishMany(a, 'both', 0, 100), publishMany(b, 'both', 1000, 100)]);
    await until(() => messagesOf(a, 'both').length === 200 && messagesOf(b, 'both').length === 200, 'both members to get 200 messages');
    expect(seqsOf(a, 'both')).toEqual(seqsOf(b, 'both'));
    expect([...seqsOf(a, 'both')].sort((x, y) => x - y)).toEqual(seqsOf(a, 'both'));
    expect(new Set(seqsOf(a, 'both'))).toEqual(new Set([...fromA, ...fromB]));
  });

  it(`resume (${backendName}) - room messages that reach members through the history feed are timed in the delivery latency histogram`, async () => {
    const count = async () => {
      const line = (await secondGateway.registry.metrics()).split('\n').find((l) => l.startsWith('parley_gateway_delivery_latency_seconds_count'));
      return Number(line?.split(' ').pop() ?? 0);
    };
    const before = await count();
    const a = await connect(first, 'ada');
    const b = await connect(second, 'bob');
    await b.request({ type: 'join', room: 'timed' });
    await publishMany(a, 'timed', 0, 20);
    await until(() => messagesOf(b, 'timed').length === 20, 'the 20 messages on the second gateway');
    expect(await count()).toBe(before + 20);
  });
});

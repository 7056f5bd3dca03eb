import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, type TestKeys } from '../support.ts';
import { messagesOf, publishMany, seqsOf, startHistoryBackend, until, type HistoryBackend } from '../history-support.ts';

const FAST = { messagesPerSecond: 100_000, burst: 100_000 };

describe.each(['jetstream', 'memory'] as const)('retention on %s', (backendName) => {
  let keys: TestKeys;
  let backend: HistoryBackend;
  let wsUrl: string;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    keys = await createTestKeys();
    backend = await startHistoryBackend(backendName, keys);
    wsUrl = (await backend.gateway()).wsUrl;
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await backend.stop();
  });

  const connect = async (user: string, ns: string, hret: Record<string, number>) => {
    const client = await join(wsUrl, await mintToken(keys, { sub: user, ns, hist: true, hret, lim: FAST }));
    clients.push(client);
    return client;
  };

  /** A reader that saw one message and went away; returns the seq it would resume from. */
  const readerThatLeft = async (ns: string, hret: Record<string, number>, publisher: TestClient) => {
    const reader = await connect('reader', ns, hret);
    await reader.request({ type: 'join', room: 'r' });
    const [first] = await publishMany(publisher, 'r', 0, 1);
    await until(() => seqsOf(reader, 'r').length === 1, 'the first message');
    await reader.close();
    return first as number;
  };

  it(`retention (${backendName}) - only the newest messages per room are kept; resuming from before them gets history_gap, then what is kept, then live`, async () => {
    const hret = { maxMessagesPerRoom: 10 };
    const publisher = await connect('writer', 'ret-count', hret);
    const since = await readerThatLeft('ret-count', hret, publisher);
    const acks = await publishMany(publisher, 'r', 1, 30);
    const history = await publisher.request({ type: 'history', room: 'r', limit: 100 });
    expect((history.messages as Array<{ seq: number }>).map((m) => m.seq)).toEqual(acks.slice(-10));
    expect(history.more).toBe(false);

    const back = await connect('reader', 'ret-count', hret);
    const joined = await back.request({ type: 'join', room: 'r', since });
    expect(joined).toMatchObject({ type: 'joined', seq: since });
    const gap = back.frames.findIndex((f) => f.type === 'error' && f.code === 'history_gap' && f.room === 'r');
    expect(gap).toBeGreaterThan(-1);
    expect(gap).toBeLessThan(back.frames.indexOf(joined));
    await until(() => messagesOf(back, 'r').length === 10, 'the retained messages');
    const live = await publishMany(publisher, 'r', 31, 2);
    await until(() => messagesOf(back, 'r').length === 12, 'the live messages');
    expect(seqsOf(back, 'r')).toEqual([...acks.slice(-10), ...live]);
  });

  it(`retention (${backendName}) - a client that missed more than a resume replays gets history_gap, then the newest, then live`, async () => {
    const hret = { maxMessagesPerRoom: 1000 };
    const publisher = await connect('writer', 'ret-many', hret);
    const since = await readerThatLeft('ret-many', hret, publisher);
    const acks = await publishMany(publisher, 'r', 1, 50);
    const limited = await backend.gateway({ maxResumeMessages: 20 });
    const back = await join(limited.wsUrl, await mintToken(keys, { sub: 'reader', ns: 'ret-many', hist: true, hret, lim: FAST }));
    clients.push(back);
    await back.request({ type: 'join', room: 'r', since });
    expect(back.all('error')).toMatchObject([{ code: 'history_gap', room: 'r' }]);
    await until(() => messagesOf(back, 'r').length === 20, 'the newest 20');
    const live = await publishMany(publisher, 'r', 51, 1);
    await until(() => messagesOf(back, 'r').length === 21, 'the live message');
    expect(seqsOf(back, 'r')).toEqual([...acks.slice(-20), ...live]);
  });

  it(`retention (${backendName}) - messages older than the age limit are gone; resuming past them gets history_gap`, async () => {
    const hret = { maxAgeSeconds: 1 };
    const publisher = await connect('writer', 'ret-age', hret);
    const since = await readerThatLeft('ret-age', hret, publisher);
    await publishMany(publisher, 'r', 1, 3);
    await until(async () => ((await publisher.request({ type: 'history', room: 'r' })).messages as unknown[]).length === 0, 'the messages to expire', 10_000);

    const back = await connect('reader', 'ret-age', hret);
    await back.request({ type: 'join', room: 'r', since });
    expect(back.all('error')).toMatchObject([{ code: 'history_gap', room: 'r' }]);
    const live = await publishMany(publisher, 'r', 4, 1);
    await until(() => messagesOf(back, 'r').length === 1, 'the live message');
    expect(seqsOf(back, 'r')).toEqual(live);
  });
});

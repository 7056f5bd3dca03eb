import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, type TestKeys } from '../support.ts';
import { messagesOf, publishMany, seqsOf, startHistoryBackend, until, type HistoryBackend } from '../history-support.ts';

const FAST = { messagesPerSecond: 100_000, burst: 100_000 };

describe.each(['jetstream', 'memory'] as const)('history on %s', (backendName) => {
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

  const connect = async (user: string, options: { ns?: string; hist?: boolean; grants?: Record<string, string[]> } = {}) => {
    const token = await mintToken(keys, { sub: user, ns: options.ns ?? 'acme', hist: options.hist ?? true, lim: FAST, ...(options.grants && { grants: options.grants as never }) });
    const client = await join(wsUrl, token);
    clients.push(client);
    return client;
  };

  it(`history (${backendName}) - a publish is acked with its seq once stored and members get the message with that seq`, async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    const joined = await bob.request({ type: 'join', room: 'acked' });
    expect(joined).toMatchObject({ type: 'joined', room: 'acked' });
    expect(typeof joined.seq).toBe('number');
    const acks = await publishMany(alice, 'acked', 0, 20);
    for (let i = 1; i < acks.length; i++) expect(acks[i]).toBeGreaterThan(acks[i - 1] as number);
    expect(acks[0]).toBeGreaterThan(joined.seq as number);
    await until(() => messagesOf(bob, 'acked').length === 20, 'bob to get 20 messages');
    expect(seqsOf(bob, 'acked')).toEqual(acks);
    expect(messagesOf(bob, 'acked').map((m) => (m.data as { i: number }).i)).toEqual([...Array(20).keys()]);
    expect(messagesOf(bob, 'acked')[0]).toMatchObject({ from: { user: 'alice' }, room: 'acked' });
  });

  it(`history (${backendName}) - the newest messages come first in one request, older and newer ones by paging`, async () => {
    const carol = await connect('carol');
    const acks = await publishMany(carol, 'paged', 0, 35);
    await publishMany(carol, 'elsewhere', 0, 5);
    const latest = await carol.request({ type: 'history', room: 'paged', limit: 10 });
    expect(latest).toMatchObject({ type: 'history', room: 'paged', more: true, first: acks[25], last: acks[34] });
    const latestMessages = latest.messages as Array<{ seq: number; data: { i: number }; type?: string }>;
    expect(latestMessages.map((m) => m.data.i)).toEqual([25, 26, 27, 28, 29, 30, 31, 32, 33, 34]);
    expect(latestMessages[0]).toMatchObject({ room: 'paged', from: { user: 'carol' }, seq: acks[25] });
    expect(latestMessages[0]?.type).toBeUndefined();
    const seen: number[] = [];
    let after = 0;
    for (let pages = 0; pages < 10; pages++) {
      const page = await carol.request({ type: 'history', room: 'paged', after, limit: 15 });
      const messages = page.messages as Array<{ seq: number }>;
      seen.push(...messages.map((m) => m.seq));
      after = (page.last as number | undefined) ?? after;
      if (!page.more) break;
    }
    expect(seen).toEqual(acks);
    const defaults = await carol.request({ type: 'history', room: 'paged' });
    expect((defaults.messages as unknown[]).length).toBe(35);
    expect(defaults.more).toBe(false);
    const empty = await carol.request({ type: 'history', room: 'nothing-here' });
    expect(empty).toMatchObject({ messages: [], more: false });
    expect(empty.first).toBeUndefined();
  });

  it(`history (${backendName}) - reading history needs the history grant`, async () => {
    const dave = await connect('dave', { grants: { '*': ['subscribe', 'publish'], 'open-*': ['history'] } });
    expect(await dave.request({ type: 'history', room: 'closed' })).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(await dave.request({ type: 'history', room: 'open-1' })).toMatchObject({ type: 'history', room: 'open-1' });
  });

  it(`history (${backendName}) - a tenant without history gets history_disabled and plain messages without seq`, async () => {
    const erin = await connect('erin', { ns: 'no-history', hist: false });
    const joined = await erin.request({ type: 'join', room: 'plain', since: 5 });
    expect(joined).toMatchObject({ type: 'joined', room: 'plain' });
    expect(joined.seq).toBeUndefined();
    const ack = await erin.request({ type: 'publish', room: 'plain', data: 'x' });
    expect(ack.type).toBe('ack');
    expect(ack.seq).toBeUndefined();
    const message = await erin.waitFor((f) => f.type === 'message' && f.room === 'plain');
    expect(message.seq).toBeUndefined();
    expect(await erin.request({ type: 'history', room: 'plain' })).toMatchObject({ type: 'error', code: 'history_disabled' });
  });

  it(`history (${backendName}) - tenants with the same room name never see each other's history`, async () => {
    const a = await connect('frank', { ns: 'iso-a' });
    const b = await connect('frank', { ns: 'iso-b' });
    await publishMany(a, 'shared', 0, 3);
    await publishMany(b, 'shared', 100, 2);
    const fromA = await a.request({ type: 'history', room: 'shared' });
    const fromB = await b.request({ type: 'history', room: 'shared' });
    expect((fromA.messages as Array<{ data: { i: number } }>).map((m) => m.data.i)).toEqual([0, 1, 2]);
    expect((fromB.messages as Array<{ data: { i: number } }>).map((m) => m.data.i)).toEqual([100, 101]);
    // A resume in one tenant never replays the other's messages either.
    const resumed = await connect('grace', { ns: 'iso-b' });
    await resumed.request({ type: 'join', room: 'shared', since: 0 });
    await until(() => messagesOf(resumed, 'shared').length === 2, 'the replay of tenant b');
    expect(messagesOf(resumed, 'shared').map((m) => (m.data as { i: number }).i)).toEqual([100, 101]);
  });

  it(`history (${backendName}) - a resume replays exactly what followed since, then the live stream`, async () => {
    const publisher = await connect('heidi');
    const acks = await publishMany(publisher, 'resume', 0, 10);
    const ivan = await connect('ivan');
    const joined = await ivan.request({ type: 'join', room: 'resume', since: acks[3] });
    expect(joined).toMatchObject({ type: 'joined', room: 'resume', seq: acks[3] });
    await until(() => messagesOf(ivan, 'resume').length === 6, 'the replay');
    const live = await publishMany(publisher, 'resume', 10, 3);
    await until(() => messagesOf(ivan, 'resume').length === 9, 'the live messages');
    expect(seqsOf(ivan, 'resume')).toEqual([...acks.slice(4), ...live]);
    expect(ivan.all('error')).toEqual([]);
  });

  it(`history (${backendName}) - a since beyond the log (history was reset) gets history_gap and the live stream from now`, async () => {
    const publisher = await connect('judy');
    const [latest] = await publishMany(publisher, 'reset', 0, 1);
    const ken = await connect('ken');
    const joined = await ken.request({ type: 'join', room: 'reset', since: (latest as number) + 1_000_000 });
    expect(joined.seq).toBeLessThanOrEqual(latest as number);
    expect(ken.all('error')).toMatchObject([{ code: 'history_gap', room: 'reset' }]);
    const live = await publishMany(publisher, 'reset', 1, 2);
    await until(() => messagesOf(ken, 'reset').length === 2, 'the live messages');
    expect(seqsOf(ken, 'reset')).toEqual(live);
  });
});

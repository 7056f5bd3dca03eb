import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition, sumSamples } from '@parley/observability';
import type { TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, startTestGateway, type TestGateway, type TestKeys } from '../support.ts';
import { messagesOf, startHistoryBackend, until, type HistoryBackend } from '../history-support.ts';

const FAST = { messagesPerSecond: 10_000, burst: 10_000 };

describe.each(['jetstream', 'memory'] as const)('publish ids with history on %s', (backendName) => {
  let keys: TestKeys;
  let backend: HistoryBackend;
  let urls: string[];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    keys = await createTestKeys();
    backend = await startHistoryBackend(backendName, keys);
    urls = [(await backend.gateway()).wsUrl, (await backend.gateway()).wsUrl];
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await backend.stop();
  });

  const connect = async (url: string, user: string, rooms: string[] = []) => {
    const client = await join(url, await mintToken(keys, { sub: user, hist: true, lim: FAST }), rooms);
    clients.push(client);
    return client;
  };

  it(`pid (${backendName}) - a repeat of a publish id on another connection and gateway is acknowledged with the first seq and stored once`, async () => {
    const reader = await connect(urls[1] as string, 'reader', ['dedupe']);
    const first = await connect(urls[0] as string, 'writer');
    const ack1 = await first.request({ type: 'publish', room: 'dedupe', data: 'once', pid: 'p-1' });
    // The same user resends after losing the ack, from a new connection on another gateway.
    const second = await connect(urls[1] as string, 'writer');
    const ack2 = await second.request({ type: 'publish', room: 'dedupe', data: 'once', pid: 'p-1' });
    const other = await second.request({ type: 'publish', room: 'dedupe', data: 'next', pid: 'p-2' });
    expect(ack1).toMatchObject({ type: 'ack', seq: expect.any(Number), msgId: expect.any(String) });
    expect(ack2).toMatchObject({ type: 'ack', seq: ack1.seq, msgId: ack1.msgId });
    await until(() => messagesOf(reader, 'dedupe').length >= 2, 'both messages');
    expect(messagesOf(reader, 'dedupe').map((m) => m.data)).toEqual(['once', 'next']);
    const stored = await reader.request({ type: 'history', room: 'dedupe' });
    expect((stored.messages as Array<{ data: unknown }>).map((m) => m.data)).toEqual(['once', 'next']);
    expect(other.seq).toBeGreaterThan(ack1.seq as number);
  });

  it(`pid (${backendName}) - the same publish id from another user is a different message`, async () => {
    const a = await connect(urls[0] as string, 'amy');
    const b = await connect(urls[0] as string, 'bob');
    const ackA = await a.request({ type: 'publish', room: 'pids', data: 'a', pid: 'same' });
    const ackB = await b.request({ type: 'publish', room: 'pids', data: 'b', pid: 'same' });
    expect(ackB.seq).not.toBe(ackA.seq);
    expect(ackB.msgId).not.toBe(ackA.msgId);
  });

  it(`ephemeral (${backendName}) - reaches current members with no seq, is not stored and has its own rate limit`, async () => {
    const reader = await connect(urls[1] as string, 'eph-reader', ['typing']);
    const writer = await connect(urls[0] as string, 'eph-writer', ['typing']);
    const ack = await writer.request({ type: 'publish', room: 'typing', data: { typing: true }, ephemeral: true });
    expect(ack).toMatchObject({ type: 'ack', msgId: expect.any(String) });
    expect(ack).not.toHaveProperty('seq');
    const event = await reader.waitFor((f) => f.type === 'message' && f.room === 'typing');
    expect(event).toMatchObject({ ephemeral: true, data: { typing: true }, from: { user: 'eph-writer' } });
    expect(event).not.toHaveProperty('seq');
    const stored = await reader.request({ type: 'history', room: 'typing' });
    expect(stored.messages).toEqual([]);
  });
});

describe('publish ids without history', () => {
  let keys: TestKeys;
  let gw: TestGateway;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    keys = await createTestKeys();
    gw = await startTestGateway(keys);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw?.gateway.close();
  });

  const connect = async (user: string, rooms: string[] = [], lim: Record<string, number> = FAST) => {
    const client = await join(gw.wsUrl, await mintToken(keys, { sub: user, lim }), rooms);
    clients.push(client);
    return client;
  };

  it('pid - a repeat within the window on the same gateway is acknowledged with the same msgId and not delivered again; the counter counts it', async () => {
    const reader = await connect('reader', ['plain']);
    const first = await connect('writer');
    const ack1 = await first.request({ type: 'publish', room: 'plain', data: 1, pid: 'x' });
    const second = await connect('writer');
    const ack2 = await second.request({ type: 'publish', room: 'plain', data: 1, pid: 'x' });
    await second.request({ type: 'publish', room: 'plain', data: 2, pid: 'y' });
    expect(ack2.msgId).toBe(ack1.msgId);
    await until(() => messagesOf(reader, 'plain').length >= 2, 'the messages');
    expect(messagesOf(reader, 'plain').map((m) => m.data)).toEqual([1, 2]);
    const metrics = parseExposition(await gw.registry.metrics());
    expect(sumSamples(metrics, 'parley_gateway_publish_duplicates_total', { tenant: 'acme' })).toBe(1);
  });

  it('ephemeral - members get it; a flood of ephemeral events is limited on its own and leaves the message budget alone', async () => {
    const reader = await connect('typist-reader', ['chat']);
    const writer = await connect('typist', ['chat'], { messagesPerSecond: 1, burst: 3 });
    const replies = await Promise.all([0, 1, 2, 3].map((i) => writer.request({ type: 'publish', room: 'chat', data: i, ephemeral: true })));
    expect(replies.map((r) => r.type)).toEqual(['ack', 'ack', 'ack', 'error']);
    expect(replies[3]).toMatchObject({ code: 'rate_limited' });
    const message = await writer.request({ type: 'publish', room: 'chat', data: 'real' });
    expect(message.type).toBe('ack');
    await until(() => reader.frames.filter((f) => f.type === 'message').length >= 4, 'the events and the message');
    const got = reader.frames.filter((f) => f.type === 'message');
    expect(got.filter((f) => f.ephemeral === true).map((f) => f.data)).toEqual([0, 1, 2]);
    expect(got.filter((f) => !f.ephemeral).map((f) => f.data)).toEqual(['real']);
    const metrics = parseExposition(await gw.registry.metrics());
    expect(sumSamples(metrics, 'parley_gateway_ephemeral_rate_limited_total', { tenant: 'acme' })).toBe(1);
  });
});

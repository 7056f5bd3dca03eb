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

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, type TestKeys } from '../support.ts';
import { seqsOf, startHistoryBackend, until, type HistoryBackend } from '../history-support.ts';

const ROOM = 'after-restart';
/**
 * The documented bound (docs/operations.md, "History feeds"): a stalled feed is detected within
 * three heartbeats (2 s each) and resubscribed at once; a few seconds more for the reconnect.
 */
const REPAIR_BOUND_MS = 10_000;

describe('history feeds across a NATS restart', () => {
  let keys: TestKeys;
  let backend: HistoryBackend;
  const urls: string[] = [];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    keys = await createTestKeys();
    backend = await startHistoryBackend('jetstream', keys);
    for (let i = 0; i < 2; i++) urls.push((await backend.gateway()).wsUrl);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await backend?.stop();
  });

  const connect = async (url: string, user: string) => {
    const client = await join(url, await mintToken(keys, { sub: user, hist: true }));
    clients.push(client);
    return client;
  };

  /** Publishes until one is acknowledged (during the restart publishes fail with `history_unavailable`). */
  const publishUntilAcked = async (client: TestClient, data: unknown): Promise<number> => {
    let seq: number | undefined;
    await until(async () => {
      const reply = await client.request({ type: 'publish', room: ROOM, data });
      if (reply.type === 'ack') seq = reply.seq as number;
      return seq !== undefined;
    }, `an acknowledged publish of ${JSON.stringify(data)}`, 30_000);
    return seq as number;
  };

  it('nats restart - members on every gateway receive live messages again within the bound, and members joining meanwhile too', async () => {
    const members = await Promise.all(urls.map(async (url, i) => {
      const client = await connect(url, `member-${i}`);
      expect((await client.request({ type: 'join', room: ROOM })).type).toBe('joined');
      return client;
    }));
    const publisher = await connect(urls[0] as string, 'publisher');
    const before = await publishUntilAcked(publisher, 'before');
    await until(() => members.every((m) => seqsOf(m, ROOM).includes(before)), 'the first message on both gateways');

    await backend.nats?.restart();
    const after = await publishUntilAcked(publisher, 'after');
    const late = await connect(urls[1] as string, 'late');
    expect((await late.request({ type: 'join', room: ROOM })).type).toBe('joined');
    const third = await publishUntilAcked(publisher, 'third');

    await until(
      () => members.every((m) => seqsOf(m, ROOM).includes(after) && seqsOf(m, ROOM).includes(third)) && seqsOf(late, ROOM).includes(third),
      'live delivery on both gateways after the restart',
      REPAIR_BOUND_MS,
    );
    for (const m of members) {
      const seqs = seqsOf(m, ROOM);
      expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
      expect(m.isClosed).toBe(false);
    }
  });
});

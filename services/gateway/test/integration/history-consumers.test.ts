import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { streamName } from '@parley/history/jetstream';
import type { TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, type TestKeys } from '../support.ts';
import { startHistoryBackend, until, type HistoryBackend } from '../history-support.ts';

const FAST = { messagesPerSecond: 100_000, burst: 100_000 };
const ROOMS = 300;
const BATCH = 20;

describe('history feeds and their JetStream consumers', () => {
  let keys: TestKeys;
  let backend: HistoryBackend;
  let nc: NatsConnection;
  let client: TestClient;

  beforeAll(async () => {
    keys = await createTestKeys();
    backend = await startHistoryBackend('jetstream', keys);
    nc = await connect({ servers: backend.nats?.url });
  });
  afterAll(async () => {
    await client?.close();
    await nc?.close();
    await backend?.stop();
  });

  it('consumers - a client joining and leaving 300 history rooms leaves no consumer behind', async () => {
    const gw = await backend.gateway();
    client = await join(gw.wsUrl, await mintToken(keys, { sub: 'wanderer', ns: 'churn', hist: true, lim: FAST }));
    expect((await client.request({ type: 'publish', room: 'r-0', data: 'first' })).type).toBe('ack');
    const jsm = await jetstreamManager(nc);
    const consumers = async () => (await jsm.streams.info(streamName('churn'))).state.consumer_count;

    let peak = 0;
    for (let start = 0; start < ROOMS; start += BATCH) {
      const rooms = Array.from({ length: BATCH }, (_, i) => `r-${start + i}`);
      const joined = await Promise.all(rooms.map((room) => client.request({ type: 'join', room })));
      expect(joined.map((f) => f.type)).toEqual(rooms.map(() => 'joined'));
      peak = Math.max(peak, await consumers());
      const left = await Promise.all(rooms.map((room) => client.request({ type: 'leave', room })));
      expect(left.map((f) => f.type)).toEqual(rooms.map(() => 'ack'));
    }
    // While joined, each room had its feed's consumer; leaving deletes it (not 5 minutes later).
    expect(peak).toBeGreaterThanOrEqual(BATCH);
    await until(async () => (await consumers()) === 0, 'every feed consumer to be deleted', 5_000);
  });
});

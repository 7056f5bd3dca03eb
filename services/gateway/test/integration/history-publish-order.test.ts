import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsBus, type NatsBus } from '@parley/bus/nats';
import type { HistoryStore } from '@parley/history';
import { createJetStreamHistoryStore } from '@parley/history/jetstream';
import { startNats, type NatsProcess, type TestClient, type TestClientFrame } from '@parley/testkit';
import { createTestKeys, join, mintToken, startTestGateway, type TestGateway, type TestKeys } from '../support.ts';
import { until } from '../history-support.ts';

const FAST = { messagesPerSecond: 100_000, burst: 100_000 };
const ROOM = 'ordered';
const REQUEST_TIMEOUT_MS = 2_000;

describe('publisher order across a retried history publish', () => {
  let keys: TestKeys;
  let nats: NatsProcess;
  let bus: NatsBus;
  let history: HistoryStore;
  let gw: TestGateway;
  let client: TestClient;

  beforeAll(async () => {
    keys = await createTestKeys();
    nats = await startNats({ jetstream: true });
    // Reconnects at once, so messages sent after the reconnect are stored before a lost one's retry (after its timeout).
    bus = await createNatsBus({ servers: nats.url, name: 'order', connectTimeoutMs: 5_000, reconnectWaitMs: 20, reconnectJitterMs: 0 });
    history = createJetStreamHistoryStore(bus.raw, { requestTimeoutMs: REQUEST_TIMEOUT_MS });
    gw = await startTestGateway(keys, { bus, history });
  });
  afterAll(async () => {
    await client?.close();
    await gw?.gateway.close();
    await history?.close();
    await bus?.close();
    await nats?.cleanup();
  });

  it('order - publishes in flight when NATS restarts are stored in the order the connection sent them, retried or not', async () => {
    client = await join(gw.wsUrl, await mintToken(keys, { sub: 'writer', hist: true, lim: FAST }));
    const sentAt = new Map<string, number>();
    const ackedAt = new Map<string, number>();
    let sent = 0;
    let scanned = 0;
    let running = true;
    const replies = () => client.frames.filter((f): f is TestClientFrame & { id: string } => typeof f.id === 'string' && f.id.startsWith('p-'));
    const acks = () => replies().filter((f) => f.type === 'ack');
    // Keeps about 50 publishes unanswered at every moment, so the restart catches some in flight
    // (their request is lost with the connection, and retried after its timeout).
    const sender = (async () => {
      while (running) {
        for (; scanned < client.frames.length; scanned++) {
          const f = client.frames[scanned] as TestClientFrame;
          if (typeof f.id === 'string') ackedAt.set(f.id, Date.now());
        }
        for (; sent - ackedAt.size < 50; sent++) {
          sentAt.set(`p-${sent}`, Date.now());
          client.send({ type: 'publish', id: `p-${sent}`, room: ROOM, data: { i: sent } });
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();

    await until(() => acks().length >= 200, '200 acks before the restart');
    await nats.restart();
    const afterRestart = acks().length;
    await until(() => acks().length >= afterRestart + 200, '200 acks after the restart', 30_000);
    running = false;
    await sender;
    await until(() => replies().length === sent, 'a reply to every publish', 30_000);

    // The scenario happened: some publish was acknowledged only after its first attempt timed out.
    const retried = acks().filter((f) => (ackedAt.get(f.id) ?? Date.now()) - (sentAt.get(f.id) as number) >= REQUEST_TIMEOUT_MS);
    expect(retried.length).toBeGreaterThan(0);
    const stored = acks().map((f) => ({ i: Number(f.id.slice(2)), seq: f.seq as number }));
    const bySeq = [...stored].sort((a, b) => a.seq - b.seq).map((m) => m.i);
    expect(bySeq).toEqual([...bySeq].sort((a, b) => a - b));
  });
});

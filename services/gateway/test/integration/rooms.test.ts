import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, startTestGateway, type TestGateway, type TestKeys } from '../support.ts';

let keys: TestKeys;
let gw: TestGateway;
const clients: TestClient[] = [];

beforeAll(async () => {
  keys = await createTestKeys();
  gw = await startTestGateway(keys);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await gw.gateway.close();
});

async function member(user: string, rooms: string[], ns = 'acme') {
  const client = await join(gw.wsUrl, await mintToken(keys, { sub: user, ns, lim: { messagesPerSecond: 1000, burst: 1000 } }), rooms);
  clients.push(client);
  return client;
}

describe('rooms', () => {
  it('rooms - two clients receive every message in order and the publish is acknowledged', async () => {
    const a = await member('alice', ['lobby']);
    const b = await member('bob', ['lobby']);
    const acks = [];
    for (let i = 0; i < 50; i++) acks.push(a.request({ type: 'publish', room: 'lobby', data: { i } }));
    for (const ack of await Promise.all(acks)) {
      expect(ack.type).toBe('ack');
      expect(typeof ack.msgId).toBe('string');
    }
    for (const c of [a, b]) {
      const got: number[] = [];
      for (let i = 0; i < 50; i++) {
        const m = await c.waitFor((f) => f.type === 'message' && f.room === 'lobby');
        got.push((m.data as { i: number }).i);
        expect((m.from as { user: string }).user).toBe('alice');
      }
      expect(got).toEqual([...Array(50).keys()]);
    }
  });

  it('rooms - 200 clients in one room each receive every message in order', async () => {
    const members = await Promise.all(Array.from({ length: 200 }, (_, i) => member(`u${i}`, ['big'])));
    const publisher = members[0]!;
    for (let i = 0; i < 20; i++) publisher.send({ type: 'publish', room: 'big', data: i, id: `p${i}` });
    await Promise.all(
      members.map(async (c) => {
        const got = [];
        for (let i = 0; i < 20; i++) got.push((await c.waitFor((f) => f.type === 'message' && f.room === 'big', 15_000)).data);
        expect(got).toEqual([...Array(20).keys()]);
      }),
    );
    expect(gw.gateway.core.hub.roomCount()).toBeGreaterThanOrEqual(1);
  });

  it('rooms - a client that left stops receiving and the bus subscription goes with the last member', async () => {
    const a = await member('carol', []);
    const before = gw.bus.subscriptionCount();
    await a.request({ type: 'join', room: 'quiet' });
    expect(gw.bus.subscriptionCount()).toBe(before + 2);
    const left = await a.request({ type: 'leave', room: 'quiet' });
    expect(left.type).toBe('ack');
    expect(gw.bus.subscriptionCount()).toBe(before);
    const b = await member('dave', ['quiet']);
    await b.request({ type: 'publish', room: 'quiet', data: 'x' });
    await b.waitFor('message');
    expect(a.all('message').filter((m) => m.room === 'quiet')).toHaveLength(0);
  });

  it('rooms - tenants with the same room name never see each other', async () => {
    const a = await member('eve', ['secret'], 'tenant-a');
    const b = await member('eve', ['secret'], 'tenant-b');
    await a.request({ type: 'publish', room: 'secret', data: 'for a' });
    await b.request({ type: 'publish', room: 'secret', data: 'for b' });
    expect((await a.waitFor('message')).data).toBe('for a');
    expect((await b.waitFor('message')).data).toBe('for b');
    await new Promise((r) => setTimeout(r, 100));
    expect(a.all('message').map((m) => m.data)).toEqual(['for a']);
    expect(b.all('message').map((m) => m.data)).toEqual(['for b']);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '@parley/protocol';
import type { TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, startTestGateway, type TestGateway, type TestKeys } from '../support.ts';

let keys: TestKeys;
let gw: TestGateway;
const open: TestClient[] = [];

beforeAll(async () => {
  keys = await createTestKeys();
  gw = await startTestGateway(keys);
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await gw.gateway.close();
});

async function as(user: string, rooms: string[] = [], extra: Parameters<typeof mintToken>[1] = {}) {
  const c = await join(gw.wsUrl, await mintToken(keys, { sub: user, ...extra }), rooms);
  open.push(c);
  return c;
}

describe('direct messages', () => {
  it('direct - reaches every connection of the target user and nobody else', async () => {
    const bob1 = await as('bob');
    const bob2 = await as('bob');
    const carol = await as('carol');
    const alice = await as('alice');
    const ack = await alice.request({ type: 'direct', to: 'bob', data: { text: 'hi bob' } });
    expect(ack.type).toBe('ack');
    for (const b of [bob1, bob2]) {
      const d = await b.waitFor('direct');
      expect(d.data).toEqual({ text: 'hi bob' });
      expect((d.from as { user: string }).user).toBe('alice');
    }
    await alice.request({ type: 'ping' });
    await carol.request({ type: 'ping' });
    expect(carol.all('direct')).toHaveLength(0);
    expect(alice.all('direct')).toHaveLength(0);
  });

  it('direct - user ids with dots and unicode are delivered exactly, never to a look-alike', async () => {
    const dotted = await as('a.b@x.com');
    const star = await as('a.*');
    const sender = await as('sender');
    await sender.request({ type: 'direct', to: 'a.b@x.com', data: 1 });
    await sender.request({ type: 'direct', to: 'ünï cödé', data: 2 });
    expect((await dotted.waitFor('direct')).data).toBe(1);
    await star.request({ type: 'ping' });
    expect(star.all('direct')).toHaveLength(0);
  });

  it('direct - the same user id in another tenant does not receive it', async () => {
    const other = await as('zed', [], { ns: 'other' });
    const mine = await as('zed');
    const sender = await as('sender2');
    await sender.request({ type: 'direct', to: 'zed', data: 'x' });
    await mine.waitFor('direct');
    await other.request({ type: 'ping' });
    expect(other.all('direct')).toHaveLength(0);
  });
});

describe('presence', () => {
  it('presence - join and leave events go out once per user, not once per connection', async () => {
    const watcher = await as('watcher', ['hall']);
    const d1 = await as('dana', ['hall'], { info: { name: 'Dana' } });
    const joinEvent = await watcher.waitFor((f) => f.type === 'presence.join' && f.user === 'dana');
    expect(joinEvent).toMatchObject({ room: 'hall', info: { name: 'Dana' } });
    const d2 = await as('dana', ['hall']);
    const q = await watcher.request({ type: 'presence', room: 'hall' });
    expect(q).toMatchObject({ type: 'presence', room: 'hall', users: 2, connections: 3 });
    expect((q.members as Array<{ user: string; connections: number }>).find((m) => m.user === 'dana')?.connections).toBe(2);
    await d1.close();
    await watcher.request({ type: 'ping' });
    expect(watcher.all('presence.leave').filter((f) => f.user === 'dana')).toHaveLength(0);
    await d2.request({ type: 'leave', room: 'hall' });
    await watcher.waitFor((f) => f.type === 'presence.leave' && f.user === 'dana');
    expect(watcher.all('presence.join').filter((f) => f.user === 'dana')).toHaveLength(1);
    const after = await watcher.request({ type: 'presence', room: 'hall' });
    expect(after).toMatchObject({ users: 1, connections: 1 });
  });

  it('presence - the query needs the presence grant', async () => {
    const c = await as('nosy', [], { grants: { hall2: ['subscribe'] } });
    await c.request({ type: 'join', room: 'hall2' });
    expect(await c.request({ type: 'presence', room: 'hall2' })).toMatchObject({ type: 'error', code: 'forbidden' });
  });
});

describe('lifecycle', () => {
  it('lifecycle - refresh keeps the socket and its rooms; an unrefreshed token closes with 4001', async () => {
    const c = await as('refresher', ['r1'], { ttlSeconds: 2 });
    const refreshed = await c.request({ type: 'refresh', token: await mintToken(keys, { sub: 'refresher', ttlSeconds: 600 }) });
    expect(refreshed.type).toBe('ack');
    const short = await as('shortlived', [], { ttlSeconds: 1 });
    const { code } = await short.closed;
    expect(code).toBe(CLOSE_CODES.token_expired);
    expect(c.isClosed).toBe(false);
    await c.request({ type: 'publish', room: 'r1', data: 'still in' });
    await c.waitFor((f) => f.type === 'message' && f.data === 'still in');
  });

  it('lifecycle - a refresh token for another user is refused', async () => {
    const c = await as('victim');
    const reply = await c.request({ type: 'refresh', token: await mintToken(keys, { sub: 'attacker' }) });
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
  });

  it('lifecycle - control messages on the bus disconnect, kick and revoke live connections', async () => {
    const { encodeControlMessage, subjects } = await import('@parley/protocol');
    const target = await as('target', ['den']);
    const kicked = await as('kickme', ['den']);
    await gw.bus.publish(subjects.control('acme'), encodeControlMessage({ op: 'kick', user: 'kickme', room: 'den' }));
    await kicked.waitFor((f) => f.type === 'error' && f.room === 'den');
    expect(await kicked.request({ type: 'publish', room: 'den', data: 1 })).toMatchObject({ type: 'ack' });
    expect(await kicked.request({ type: 'leave', room: 'den' })).toMatchObject({ type: 'error', code: 'not_joined' });
    await gw.bus.publish(subjects.control('acme'), encodeControlMessage({ op: 'revoke', user: 'target', before: Math.floor(Date.now() / 1000) }));
    expect((await target.closed).code).toBe(CLOSE_CODES.token_revoked);
    await gw.bus.publish(subjects.control('acme'), encodeControlMessage({ op: 'disconnect', user: 'kickme' }));
    expect((await kicked.closed).code).toBe(CLOSE_CODES.disconnected);
  });
});

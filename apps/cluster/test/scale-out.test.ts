import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES, subjects } from '@parley/protocol';
import { waitForNatsSubscriptions, type TestClient } from '@parley/testkit';
import { connectUser, mintUserToken, startCluster, type Cluster } from '../src/index.ts';

let cluster: Cluster;
const open: TestClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({ gateways: 3, jetstream: false, env: { PARLEY_DRAIN_MS: '1500', PARLEY_LOG_LEVEL: 'warn' } });
}, 60_000);
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await cluster?.stop();
});

async function user(name: string, gateway: number, rooms: string[] = [], options: Parameters<typeof mintUserToken>[2] = {}) {
  const client = await connectUser(cluster.gateways[gateway]!, await mintUserToken(cluster, name, options), rooms);
  open.push(client);
  return client;
}

const subjectsOf = async (gateway: number) => {
  const { natsSubscriptions } = await import('@parley/testkit');
  return natsSubscriptions(cluster.nats.monitorUrl!, `gateway-gateway-${gateway + 1}`);
};

describe('scale-out', () => {
  it('scale-out - clients on three gateways in one room receive every message in per-publisher order', async () => {
    const members = [];
    for (let i = 0; i < 9; i++) members.push(await user(`m${i}`, i % 3, ['arena']));
    const publishers = [members[0]!, members[1]!, members[2]!];
    const perPublisher = 30;
    for (let n = 0; n < perPublisher; n++) for (const [p, pub] of publishers.entries()) pub.send({ type: 'publish', room: 'arena', data: { p, n } });
    await Promise.all(
      members.map(async (m) => {
        const seen: Record<number, number[]> = { 0: [], 1: [], 2: [] };
        for (let i = 0; i < perPublisher * 3; i++) {
          const f = await m.waitFor((x) => x.type === 'message' && x.room === 'arena', 10_000);
          const { p, n } = f.data as { p: number; n: number };
          seen[p]!.push(n);
        }
        for (const p of [0, 1, 2]) expect(seen[p]).toEqual([...Array(perPublisher).keys()]);
      }),
    );
  });

  it('scale-out - direct messages and server-side publishes cross nodes', async () => {
    const target1 = await user('target', 0);
    const target2 = await user('target', 2);
    const sender = await user('sender', 1);
    expect((await sender.request({ type: 'direct', to: 'target', data: 'across' })).type).toBe('ack');
    expect((await target1.waitFor('direct')).data).toBe('across');
    expect((await target2.waitFor('direct')).data).toBe('across');

    const listener = await user('listener', 2, ['news']);
    const res = await fetch(`${cluster.auth.url}/v1/rooms/news/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cluster.demoApiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ data: { headline: 'hello' } }),
    });
    expect(res.status).toBe(202);
    expect(await listener.waitFor('message')).toMatchObject({ room: 'news', from: { user: '$server' }, data: { headline: 'hello' } });
  });

  it('scale-out - hostile user ids and look-alike rooms never leak across users or tenants', async () => {
    const hostile = ['a.b', 'a.*', 'a.>', '>', '*', 'with space', 'ünï.cödé', 'a', 'a.b.c'];
    const receivers = await Promise.all(hostile.map((name, i) => user(name, i % 3)));
    const sender = await user('hostile-sender', 0);
    for (const name of hostile) expect((await sender.request({ type: 'direct', to: name, data: name })).type).toBe('ack');
    for (const [i, r] of receivers.entries()) {
      const d = await r.waitFor('direct');
      expect(d.data).toBe(hostile[i]);
    }
    await Promise.all(receivers.map((r) => r.request({ type: 'ping' })));
    for (const [i, r] of receivers.entries()) expect(r.all('direct').map((d) => d.data)).toEqual([hostile[i]]);
    for (const room of ['a.b', 'lobby.>', 'x*']) {
      expect(await sender.request({ type: 'join', room })).toMatchObject({ type: 'error', code: 'invalid_room' });
    }
  });

  it('scale-out - a gateway drops its NATS subscription for a room when its last local member leaves', async () => {
    const a = await user('acct-a', 1, ['ledger']);
    const b = await user('acct-b', 1, ['ledger']);
    const roomSubject = subjects.room('demo', 'ledger');
    expect(await subjectsOf(1)).toContain(roomSubject);
    await a.request({ type: 'leave', room: 'ledger' });
    expect(await subjectsOf(1)).toContain(roomSubject);
    await b.close();
    await waitForNatsSubscriptions(cluster.nats.monitorUrl!, 'gateway-gateway-2', (subs) => !subs.includes(roomSubject) && !subs.includes(subjects.presence('demo', 'ledger')));
  });

  it('scale-out - SIGTERM on a gateway sends reconnect; its clients move to another gateway and keep their rooms', async () => {
    const extra = await cluster.addGateway();
    const moving = await connectUser(extra, await mintUserToken(cluster, 'mover'), ['hall']);
    const stayer = await user('stayer', 0, ['hall']);
    const stopped = extra.stop('SIGTERM');
    const notice = await moving.waitFor('reconnect');
    expect(notice.reason).toBe('shutdown');
    const moved = await connectUser(cluster.gateways[1]!, await mintUserToken(cluster, 'mover'), ['hall']);
    open.push(moved);
    expect((await moving.closed).code).toBe(CLOSE_CODES.shutdown);
    expect(await stopped).toBe(0);
    await stayer.request({ type: 'publish', room: 'hall', data: 'after the move' });
    await moved.waitFor((f) => f.type === 'message' && f.data === 'after the move');
  });
});

describe('faults', () => {
  it('faults - NATS restarts while traffic flows: publishes fail with unavailable, then delivery resumes without restarting gateways', async () => {
    const pub = await user('f-pub', 0, ['storm']);
    const sub = await user('f-sub', 2, ['storm']);
    await pub.request({ type: 'publish', room: 'storm', data: 'before' });
    await sub.waitFor((f) => f.type === 'message' && f.data === 'before');

    await cluster.nats.stop();
    const during = await pub.request({ type: 'publish', room: 'storm', data: 'during' });
    expect(during).toMatchObject({ type: 'error', code: 'unavailable', temporary: true });
    expect((await fetch(`${cluster.gateways[0]!.url}/readyz`)).status).toBe(503);

    await cluster.nats.restart();
    const deadline = Date.now() + 15_000;
    while ((await fetch(`${cluster.gateways[0]!.url}/readyz`)).status !== 200 || (await fetch(`${cluster.gateways[2]!.url}/readyz`)).status !== 200) {
      if (Date.now() > deadline) throw new Error('gateways did not become ready after NATS came back');
      await new Promise((r) => setTimeout(r, 100));
    }
    const after = await pub.request({ type: 'publish', room: 'storm', data: 'after' });
    expect(after.type).toBe('ack');
    await sub.waitFor((f) => f.type === 'message' && f.data === 'after', 10_000);
    expect(sub.all('message').map((m) => m.data)).not.toContain('during');
    expect(cluster.gateways.slice(0, 3).every((g) => g.running)).toBe(true);
  });

  it('faults - SIGKILL on a gateway: its clients reconnect to another and carry on', async () => {
    const victim = await cluster.addGateway();
    const orphan = await connectUser(victim, await mintUserToken(cluster, 'orphan'), ['refuge']);
    const peer = await user('peer', 0, ['refuge']);
    await victim.stop('SIGKILL');
    expect((await orphan.closed).code).toBe(1006);
    const back = await connectUser(cluster.gateways[2]!, await mintUserToken(cluster, 'orphan'), ['refuge']);
    open.push(back);
    await peer.request({ type: 'publish', room: 'refuge', data: 'welcome back' });
    await back.waitFor((f) => f.type === 'message' && f.data === 'welcome back');
  });
});

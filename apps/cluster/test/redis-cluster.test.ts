import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseTestClient, type TestClient } from '@parley/testkit';
import { connectUser, mintUserToken, startCluster, type Cluster } from '../src/index.ts';

const TTL_MS = 3000;
let cluster: Cluster;
const open: TestClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({
    gateways: 2,
    jetstream: false,
    presenceRedisClusterNodes: 3,
    env: { PARLEY_PRESENCE_TTL_MS: String(TTL_MS), PARLEY_PRESENCE_SWEEP_MS: '500', PARLEY_LOG_LEVEL: 'warn', PARLEY_DRAIN_MS: '500' },
  });
}, 90_000);
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await cluster?.stop();
});

async function user(name: string, gateway: number, rooms: string[]) {
  const c = await connectUser(cluster.gateways[gateway]!, await mintUserToken(cluster, name), rooms);
  open.push(c);
  return c;
}

const members = (frame: Record<string, unknown>) => (frame.members as Array<{ user: string }>).map((m) => m.user).sort();

describe('presence on a Redis Cluster', () => {
  it('redis cluster - gateways and the presence API given a redis+cluster:// URL agree on members across gateways and rooms in every slot', async () => {
    expect(cluster.presenceRedisCluster?.url).toMatch(/^redis\+cluster:\/\/(127\.0\.0\.1:\d+,){2}127\.0\.0\.1:\d+$/);
    // Many rooms, so their keys land on every master of the cluster.
    const rooms = Array.from({ length: 12 }, (_, i) => `hall-${i}`);
    const ann = await user('ann', 0, rooms);
    const bo = await user('bo', 1, rooms);
    for (const room of rooms) {
      for (const c of [ann, bo]) expect(members(await c.request({ type: 'presence', room }))).toEqual(['ann', 'bo']);
      const res = await fetch(`${cluster.presence.url}/v1/rooms/${room}/members`, { headers: { authorization: `Bearer ${cluster.demoApiKey}` } });
      expect(res.status).toBe(200);
      expect(members((await res.json()) as Record<string, unknown>)).toEqual(['ann', 'bo']);
    }
    await ann.waitFor((f) => f.type === 'presence.join' && f.user === 'bo' && f.room === 'hall-11');

    bo.send({ type: 'leave', room: 'hall-3' });
    await ann.waitFor((f) => f.type === 'presence.leave' && f.user === 'bo' && f.room === 'hall-3');
    expect(members(await ann.request({ type: 'presence', room: 'hall-3' }))).toEqual(['ann']);
  });

  it('redis cluster - an SSE ticket from one gateway process opens its stream on the other (tickets in the Redis Cluster, taken once); frames POSTed to the first reach it over NATS', async () => {
    const [gw0, gw1] = [cluster.gateways[0]!, cluster.gateways[1]!];
    const token = await mintUserToken(cluster, 'sse-roamer');
    const tickets = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const res = await fetch(`${gw0.url}/v1/sse/tickets`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
        expect(res.status).toBe(201);
        return ((await res.json()) as { ticket: string }).ticket;
      }),
    );
    // Each ticket (their keys spread over the cluster's masters) opens one stream, on the other gateway, once.
    for (const ticket of tickets) {
      const controller = new AbortController();
      const first = await fetch(`${gw1.url}/v1/sse?ticket=${ticket}`, { signal: controller.signal });
      expect(first.status).toBe(200);
      controller.abort();
      expect((await fetch(`${gw0.url}/v1/sse?ticket=${ticket}`)).status).toBe(401);
    }
    const watcher = await user('sse-watcher', 0, ['sse-hall']);
    const sse = new SseTestClient(gw1.url, { token });
    await sse.waitFor('welcome');
    const post = (frame: object) => fetch(`${gw0.url}/v1/sse/connections/${sse.connection}`, { method: 'POST', headers: { authorization: `Bearer ${sse.key}` }, body: JSON.stringify(frame) });
    expect((await post({ type: 'join', room: 'sse-hall', id: 'j' })).status).toBe(202);
    expect(await sse.waitFor((f) => f.id === 'j')).toMatchObject({ type: 'joined' });
    await watcher.waitFor((f) => f.type === 'presence.join' && f.user === 'sse-roamer' && f.room === 'sse-hall');
    expect(members(await watcher.request({ type: 'presence', room: 'sse-hall' }))).toEqual(['sse-roamer', 'sse-watcher']);
    await sse.close();
    await watcher.waitFor((f) => f.type === 'presence.leave' && f.user === 'sse-roamer');
  });
});

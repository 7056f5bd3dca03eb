import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestClient, TestClientFrame } from '@parley/testkit';
import { connectUser, mintUserToken, startCluster, type Cluster } from '../src/index.ts';

const TTL_MS = 3000;
const SWEEP_MS = 500;
let cluster: Cluster;
const open: TestClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({
    gateways: 3,
    jetstream: false,
    env: { PARLEY_PRESENCE_TTL_MS: String(TTL_MS), PARLEY_PRESENCE_SWEEP_MS: String(SWEEP_MS), PARLEY_LOG_LEVEL: 'warn', PARLEY_DRAIN_MS: '500' },
  });
}, 60_000);
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await cluster?.stop();
});

async function user(name: string, gateway: number, rooms: string[]) {
  const c = await connectUser(cluster.gateways[gateway]!, await mintUserToken(cluster, name, { info: { name } }), rooms);
  open.push(c);
  return c;
}

async function api(path: string) {
  const res = await fetch(`${cluster.presence.url}${path}`, { headers: { authorization: `Bearer ${cluster.demoApiKey}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const sortMembers = (members: unknown) =>
  (members as Array<{ user: string; connections: number }>).map((m) => `${m.user}:${m.connections}`).sort();

async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('presence across nodes', () => {
  it('presence - several users with several connections on several gateways: the same answer everywhere', async () => {
    const watchers = [await user('w0', 0, ['plaza']), await user('w1', 1, ['plaza']), await user('w2', 2, ['plaza'])];
    await user('ann', 0, ['plaza']);
    await user('ann', 1, ['plaza']);
    await user('ann', 2, ['plaza']);
    await user('bo', 2, ['plaza']);
    await user('bo', 2, ['plaza']);
    const expected = ['ann:3', 'bo:2', 'w0:1', 'w1:1', 'w2:1'];
    for (const w of watchers) {
      const q = await w.request({ type: 'presence', room: 'plaza' });
      expect(sortMembers(q.members)).toEqual(expected);
      expect(q).toMatchObject({ users: 5, connections: 8 });
    }
    const http = await api('/v1/rooms/plaza/members');
    expect(http.status).toBe(200);
    expect(sortMembers(http.body.members)).toEqual(expected);
    expect((await api('/v1/users/ann/rooms')).body).toMatchObject({ rooms: ['plaza'] });
    for (const w of watchers) {
      await w.request({ type: 'ping' });
      const joins = w.all('presence.join').filter((f) => f.user === 'ann');
      expect(joins).toHaveLength(1);
    }
  });

  it('presence - a SIGKILLed gateway: its users leave within the bound, and every member gets each leave exactly once', async () => {
    const doomed = await cluster.addGateway();
    const ghost = await connectUser(doomed, await mintUserToken(cluster, 'ghost'), ['crypt']);
    const ghost2 = await connectUser(doomed, await mintUserToken(cluster, 'ghost'), ['crypt']);
    const watchers = [await user('keeper0', 0, ['crypt']), await user('keeper1', 1, ['crypt'])];
    expect(sortMembers((await watchers[0]!.request({ type: 'presence', room: 'crypt' })).members)).toContain('ghost:2');
    const killedAt = Date.now();
    await doomed.stop('SIGKILL');
    await Promise.all([ghost.closed, ghost2.closed]);
    const leaves: TestClientFrame[] = [];
    for (const w of watchers) leaves.push(await w.waitFor((f) => f.type === 'presence.leave' && f.user === 'ghost', TTL_MS + 5 * SWEEP_MS + 5000));
    const took = Date.now() - killedAt;
    expect(took).toBeLessThan(TTL_MS + SWEEP_MS * 2 + 3000);
    expect((await api('/v1/rooms/crypt/count')).body).toMatchObject({ users: 2, connections: 2 });
    await new Promise((r) => setTimeout(r, SWEEP_MS * 3));
    for (const w of watchers) {
      await w.request({ type: 'ping' });
      expect(w.all('presence.leave').filter((f) => f.user === 'ghost')).toHaveLength(1);
    }
  });

  it('presence - no query or event ever shows another tenant', async () => {
    const admin = cluster.adminToken;
    const post = (path: string, body?: unknown) =>
      fetch(`${cluster.auth.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, ...(body !== undefined && { body: JSON.stringify(body) }) });
    await post('/v1/admin/tenants', { ns: 'rival' });
    const rivalKey = ((await (await post('/v1/admin/tenants/rival/keys')).json()) as { key: string }).key;
    const rival = await connectUser(cluster.gateways[1]!, await mintUserToken(cluster, 'spy', { apiKey: rivalKey }), ['plaza']);
    open.push(rival);
    const local = await user('citizen', 1, ['plaza']);
    const q = await rival.request({ type: 'presence', room: 'plaza' });
    expect(sortMembers(q.members)).toEqual(['spy:1']);
    await local.request({ type: 'ping' });
    expect(local.all('presence.join').map((f) => f.user)).not.toContain('spy');
    expect(rival.all('presence.join').map((f) => f.user)).toEqual(['spy']);
    const res = await fetch(`${cluster.presence.url}/v1/rooms/plaza/members`, { headers: { authorization: `Bearer ${rivalKey}` } });
    expect(sortMembers(((await res.json()) as { members: unknown }).members)).toEqual(['spy:1']);
  });

  it('presence - a gateway frozen past the TTL: its users are announced as left, then as joined again when it resumes, once each', async () => {
    const sleepy = await cluster.addGateway();
    const watchers = [await user('night0', 0, ['dorm']), await user('night1', 1, ['dorm'])];
    const sleeper = await connectUser(sleepy, await mintUserToken(cluster, 'sleeper'), ['dorm']);
    const sleeper2 = await connectUser(sleepy, await mintUserToken(cluster, 'sleeper'), ['dorm']);
    open.push(sleeper, sleeper2);
    const eventsOf = (w: TestClient, type: string) => w.all(type).filter((f) => f.user === 'sleeper');
    for (const w of watchers) await w.waitFor((f) => f.type === 'presence.join' && f.user === 'sleeper');

    sleepy.freeze();
    try {
      for (const w of watchers) await w.waitFor((f) => f.type === 'presence.leave' && f.user === 'sleeper', TTL_MS + 10 * SWEEP_MS + 5000);
      expect(sortMembers((await api('/v1/rooms/dorm/members')).body.members)).toEqual(['night0:1', 'night1:1']);
    } finally {
      sleepy.thaw();
    }
    // Its next heartbeat (every third of the TTL) recreates the entries and announces the join.
    for (const w of watchers) await until(async () => eventsOf(w, 'presence.join').length, (n) => n >= 2, TTL_MS + 5000);
    await until(async () => sortMembers((await api('/v1/rooms/dorm/members')).body.members), (m) => m.includes('sleeper:2'), TTL_MS + 5000);
    // A few more heartbeats and sweeps: nothing is announced twice.
    await new Promise((r) => setTimeout(r, TTL_MS));
    for (const w of watchers) {
      await w.request({ type: 'ping' });
      expect(eventsOf(w, 'presence.leave')).toHaveLength(1);
      expect(eventsOf(w, 'presence.join')).toHaveLength(2);
    }
    expect(sleeper.isClosed).toBe(false);
    expect((await sleeper.request({ type: 'publish', room: 'dorm', data: 'awake' })).type).toBe('ack');
    await sleepy.stop('SIGTERM');
  });

  // Last: the presence Redis restarts empty (auth keeps its tenants in a Redis of its own: durability.test.ts).
  it('presence - Redis killed and restarted empty: messaging continues, presence is complete again within the bound', async () => {
    const a = await user('red-a', 0, ['vault']);
    const b = await user('red-b', 2, ['vault']);
    await cluster.redis.stop();
    expect((await a.request({ type: 'publish', room: 'vault', data: 'during outage' })).type).toBe('ack');
    await b.waitFor((f) => f.type === 'message' && f.data === 'during outage');
    const failed = await a.request({ type: 'presence', room: 'vault' });
    expect(failed).toMatchObject({ type: 'error', code: 'presence_unavailable', temporary: true });
    await cluster.redis.restart();
    const healed = await until(() => api('/v1/rooms/vault/members'), (r) => r.status === 200 && sortMembers(r.body.members).join() === 'red-a:1,red-b:1', TTL_MS + 5000);
    expect(healed.body).toMatchObject({ users: 2, connections: 2 });
    expect((await b.request({ type: 'publish', room: 'vault', data: 'after' })).type).toBe('ack');
    await a.waitFor((f) => f.type === 'message' && f.data === 'after');
  });
});

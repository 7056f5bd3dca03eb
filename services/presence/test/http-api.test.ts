import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { PresenceConnection, PresenceStore } from '@parley/presence-store';
import { createRedisPresenceStore, PRESENCE_REDIS_OPTIONS } from '@parley/presence-store/redis';
import { startRedis, type ServerProcess } from '@parley/testkit';
import { buildApp, get, startFakeAuth, type FakeAuth } from './support.ts';

const ACME_KEY = 'pk_acme_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const GLOBEX_KEY = 'pk_globex_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';

describe('presence http api', () => {
  let redis: ServerProcess;
  let auth: FakeAuth;
  // Two gateways write, the presence service reads: three clients on one Redis.
  let gatewayA: PresenceStore;
  let gatewayB: PresenceStore;
  let serviceStore: PresenceStore;
  let app: ReturnType<typeof buildApp>;

  const entry = (ns: string, room: string, user: string, conn: string, info?: Record<string, unknown>): PresenceConnection => ({ ns, room, user, conn, gateway: 'g', ...(info && { info }) });

  beforeAll(async () => {
    redis = await startRedis();
    auth = await startFakeAuth({ [ACME_KEY]: 'acme', [GLOBEX_KEY]: 'globex' });
    const client = () => new Redis(redis.url, PRESENCE_REDIS_OPTIONS);
    gatewayA = createRedisPresenceStore(client());
    gatewayB = createRedisPresenceStore(client());
    serviceStore = createRedisPresenceStore(client());
    app = buildApp(serviceStore, auth);
    await gatewayA.add(entry('acme', 'lobby', 'ann', 'a1', { name: 'Ann' }));
    await gatewayB.add(entry('acme', 'lobby', 'ann', 'a2', { name: 'Ann' }));
    await gatewayB.add(entry('acme', 'lobby', 'bob', 'b1'));
    await gatewayA.add(entry('acme', 'game/1#x', 'bob', 'b2'));
    await gatewayA.add(entry('acme', 'secret', 'cy', 'c1'));
    await gatewayA.add(entry('globex', 'lobby', 'mallory', 'm1'));
  });
  afterAll(async () => {
    await Promise.all([gatewayA?.close(), gatewayB?.close(), serviceStore?.close()]);
    await auth?.close();
    await redis?.stop();
  });

  it('presence http api - an API key sees members, counts and user rooms of its namespace', async () => {
    const members = await get(app, '/v1/rooms/lobby/members', ACME_KEY);
    expect(members.status).toBe(200);
    expect(members.body.room).toBe('lobby');
    expect(members.body.users).toBe(2);
    expect(members.body.connections).toBe(3);
    expect([...members.body.members].sort((a: any, b: any) => a.user.localeCompare(b.user))).toEqual([
      { user: 'ann', connections: 2, info: { name: 'Ann' } },
      { user: 'bob', connections: 1 },
    ]);
    expect((await get(app, '/v1/rooms/lobby/count', ACME_KEY)).body).toEqual({ room: 'lobby', users: 2, connections: 3 });
    expect((await get(app, `/v1/rooms/${encodeURIComponent('game/1#x')}/count`, ACME_KEY)).body).toEqual({ room: 'game/1#x', users: 1, connections: 1 });
    expect((await get(app, '/v1/users/bob/rooms', ACME_KEY)).body).toEqual({ user: 'bob', rooms: ['game/1#x', 'lobby'] });
    expect((await get(app, '/v1/rooms/empty/members', ACME_KEY)).body).toEqual({ room: 'empty', users: 0, connections: 0, members: [] });
  });

  it('presence http api - tenants never see each other, whatever the path says', async () => {
    const globex = await get(app, '/v1/rooms/lobby/members', GLOBEX_KEY);
    expect(globex.body.members).toEqual([{ user: 'mallory', connections: 1 }]);
    expect((await get(app, '/v1/users/ann/rooms', GLOBEX_KEY)).body).toEqual({ user: 'ann', rooms: [] });
    expect((await get(app, '/v1/users/mallory/rooms', ACME_KEY)).body).toEqual({ user: 'mallory', rooms: [] });
    // A globex user token granting every room still reads globex only.
    const token = await auth.token({ sub: 'mallory', ns: 'globex', grants: { '*': ['presence'] } });
    expect((await get(app, '/v1/rooms/lobby/count', token)).body).toEqual({ room: 'lobby', users: 1, connections: 1 });
    expect((await get(app, '/v1/users/ann/rooms', token)).body.rooms).toEqual([]);
  });

  it('presence http api - a user token needs the presence grant for the room', async () => {
    const token = await auth.token({ sub: 'bob', ns: 'acme', grants: { lobby: ['subscribe', 'presence'], 'game/*': ['subscribe'] } });
    expect((await get(app, '/v1/rooms/lobby/count', token)).body).toEqual({ room: 'lobby', users: 2, connections: 3 });
    const denied = await get(app, `/v1/rooms/${encodeURIComponent('game/1#x')}/members`, token);
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({ code: 'forbidden', temporary: false });
    expect((await get(app, '/v1/rooms/secret/count', token)).status).toBe(403);
    // Its own rooms: all of them; someone else's: only rooms it may watch.
    expect((await get(app, '/v1/users/bob/rooms', token)).body.rooms).toEqual(['game/1#x', 'lobby']);
    expect((await get(app, '/v1/users/cy/rooms', token)).body.rooms).toEqual([]);
    expect((await get(app, '/v1/users/ann/rooms', token)).body.rooms).toEqual(['lobby']);
  });

  it('presence http api - bad credentials are refused with a clear code', async () => {
    expect((await get(app, '/v1/rooms/lobby/count')).body).toMatchObject({ code: 'unauthorized' });
    expect((await get(app, '/v1/rooms/lobby/count', 'pk_acme_wrong')).status).toBe(401);
    expect((await get(app, '/v1/rooms/lobby/count', 'garbage')).body.code).toBe('unauthorized');
    const expired = await auth.token({ sub: 'bob', ns: 'acme', grants: { '*': ['presence'] } }, { expiresIn: Math.floor(Date.now() / 1000) - 60 });
    expect((await get(app, '/v1/rooms/lobby/count', expired)).body).toMatchObject({ code: 'token_expired' });
    const forged = await auth.token({ sub: 'bob', ns: 'acme', grants: { '*': ['presence'] } }, { signer: 'stranger' });
    expect((await get(app, '/v1/rooms/lobby/count', forged)).body).toMatchObject({ code: 'token_invalid' });
    const foreign = await auth.token({ sub: 'bob', ns: 'acme', grants: { '*': ['presence'] } }, { issuer: 'someone-else' });
    expect((await get(app, '/v1/rooms/lobby/count', foreign)).status).toBe(401);
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ sub: 'bob', ns: 'acme', grants: { '*': ['presence'] }, iss: 'parley-auth', aud: 'parley-gateway', exp: 9999999999, iat: 1, jti: 'x' })).toString('base64url');
    expect((await get(app, '/v1/rooms/lobby/count', `${header}.${payload}.`)).body).toMatchObject({ code: 'token_invalid' });
  });

  it('presence http api - invalid names are refused, hostile ones are looked up exactly', async () => {
    expect((await get(app, `/v1/rooms/${encodeURIComponent('a.b')}/count`, ACME_KEY)).body).toMatchObject({ code: 'invalid_room' });
    expect((await get(app, `/v1/rooms/${encodeURIComponent('*')}/count`, ACME_KEY)).body).toMatchObject({ code: 'invalid_room' });
    expect((await get(app, `/v1/users/${encodeURIComponent('$system')}/rooms`, ACME_KEY)).body).toMatchObject({ code: 'invalid_user' });
    expect((await get(app, `/v1/rooms/${encodeURIComponent('lobby')}%2Fx/count`, ACME_KEY)).body).toEqual({ room: 'lobby/x', users: 0, connections: 0 });
    expect((await get(app, '/v1/nothing', ACME_KEY)).status).toBe(404);
  });

  it('presence http api - API key answers are cached; auth outages are a clear 503', async () => {
    const key = 'pk_acme_CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC';
    auth.keys.set(key, 'acme');
    const before = auth.whoamiCalls;
    await Promise.all([get(app, '/v1/rooms/lobby/count', key), get(app, '/v1/rooms/lobby/count', key)]);
    await get(app, '/v1/users/ann/rooms', key);
    expect(auth.whoamiCalls - before).toBe(1);
    // Negative answers are cached too.
    const unknown = 'pk_acme_DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD';
    await get(app, '/v1/rooms/lobby/count', unknown);
    await get(app, '/v1/rooms/lobby/count', unknown);
    expect(auth.whoamiCalls - before).toBe(2);
    auth.healthy = false;
    try {
      const down = await get(app, '/v1/rooms/lobby/count', 'pk_acme_EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE');
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({ code: 'unavailable', temporary: true });
      // A cached key keeps working while auth is down.
      expect((await get(app, '/v1/rooms/lobby/count', key)).status).toBe(200);
    } finally {
      auth.healthy = true;
    }
  });

  it('presence http api - health, readiness, metrics and the OpenAPI document', async () => {
    expect((await get(app, '/healthz')).body).toEqual({ status: 'ok' });
    expect((await get(app, '/readyz')).body).toEqual({ ready: true, store: 'up', bus: 'connected' });
    const metrics = await get(app, '/metrics');
    expect(metrics.status).toBe(200);
    // No tenant names on the public /metrics (PARLEY_METRICS_TENANT_LABELS is off): totals over tenants.
    expect(metrics.body).toContain('parley_presence_online_users 4');
    expect(metrics.body).toMatch(/^parley_presence_connections \d+$/m);
    expect(metrics.body).not.toContain('tenant=');
    expect(metrics.body).not.toContain('globex');
    expect(metrics.body).toContain('parley_presence_redis_up 1');
    expect(metrics.body).toMatch(/parley_presence_http_requests_total\{route="\/v1\/rooms\/\{room\}\/count",status="200"\} \d+/);
    const doc = await get(app, '/openapi.json');
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/rooms/{room}/members', '/v1/rooms/{room}/count', '/v1/users/{user}/rooms']));
  });

  it('presence http api - a Redis outage answers presence_unavailable and readiness goes false', async () => {
    await redis.stop('SIGKILL');
    try {
      const started = Date.now();
      const down = await get(app, '/v1/rooms/lobby/members', ACME_KEY);
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({ code: 'presence_unavailable', temporary: true });
      expect(Date.now() - started).toBeLessThan(1500);
      const ready = await get(app, '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ ready: false, store: 'down' });
      expect((await get(app, '/metrics')).body).toContain('parley_presence_redis_up 0');
    } finally {
      await redis.restart();
    }
  });
});

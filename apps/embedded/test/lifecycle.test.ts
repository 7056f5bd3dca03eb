import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@parley/observability';
import { CLOSE_CODES } from '@parley/protocol';
import { connectClient, type TestClient } from '@parley/testkit';
import { startEmbedded, type Embedded } from '../src/embedded.ts';

const ADMIN = 'lifecycle-admin-token-0123456789';
let parley: Embedded;
let base: string;
let ws: string;
const dataDir = mkdtempSync(join(tmpdir(), 'parley-lifecycle-'));
const clients: TestClient[] = [];

beforeAll(async () => {
  parley = await startEmbedded({ host: '127.0.0.1', port: 0, dataDir, adminToken: ADMIN, logger: createLogger('parley', { level: 'silent' }), drainMs: 0 });
  base = `http://127.0.0.1:${parley.gateway.port}`;
  ws = `ws://127.0.0.1:${parley.gateway.port}/v1/ws`;
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await parley.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function call(method: string, path: string, bearer: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

async function mint(key: string, user: string, extra: Record<string, unknown> = {}) {
  const r = await call('POST', '/v1/tokens', key, { user, grants: { '*': ['subscribe', 'publish', 'presence'] }, ...extra });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.token as string;
}

async function connect(token: string, rooms: string[] = []) {
  const c = await connectClient(ws, { token });
  clients.push(c);
  await c.waitFor('welcome');
  for (const room of rooms) expect(await c.request({ type: 'join', room })).toMatchObject({ type: 'joined' });
  return c;
}

describe('lifecycle', () => {
  it('lifecycle - create tenant, create key, mint, connect, refresh, revoke key, revoke user', async () => {
    expect((await call('POST', '/v1/admin/tenants', ADMIN, { ns: 'shop', settings: { maxTokenTtlSeconds: 600 } })).status).toBe(201);
    const created = await call('POST', '/v1/admin/tenants/shop/keys', ADMIN);
    expect(created.status).toBe(201);
    const key = created.body.key as string;

    const alice = await connect(await mint(key, 'alice'), ['support']);
    const refreshed = await alice.request({ type: 'refresh', token: await mint(key, 'alice') });
    expect(refreshed.type).toBe('ack');

    expect((await call('DELETE', `/v1/admin/tenants/shop/keys/${created.body.id as string}`, ADMIN)).status).toBe(204);
    const refused = await call('POST', '/v1/tokens', key, { user: 'bob', grants: {} });
    expect(refused.status).toBe(401);

    const second = (await call('POST', '/v1/admin/tenants/shop/keys', ADMIN)).body.key as string;
    const started = Date.now();
    expect((await call('POST', '/v1/users/alice/revoke', second)).status).toBe(202);
    expect((await alice.closed).code).toBe(CLOSE_CODES.token_revoked);
    expect(Date.now() - started).toBeLessThan(1000);
    const fresh = await connect(await mint(second, 'alice'));
    expect(fresh.isClosed).toBe(false);
  });

  it('lifecycle - server-side publish, direct, kick and disconnect reach live connections', async () => {
    await call('POST', '/v1/admin/tenants', ADMIN, { ns: 'game' });
    const key = (await call('POST', '/v1/admin/tenants/game/keys', ADMIN)).body.key as string;
    const player = await connect(await mint(key, 'p1'), ['match-1']);

    expect((await call('POST', '/v1/rooms/match-1/publish', key, { data: { round: 1 } })).status).toBe(202);
    const message = await player.waitFor('message');
    expect(message).toMatchObject({ room: 'match-1', data: { round: 1 }, from: { user: '$server' } });

    expect((await call('POST', '/v1/users/p1/direct', key, { data: 'psst' })).status).toBe(202);
    expect((await player.waitFor('direct')).data).toBe('psst');

    expect((await call('POST', '/v1/rooms/match-1/kick', key, { user: 'p1' })).status).toBe(202);
    await player.waitFor((f) => f.type === 'error' && f.room === 'match-1');
    expect(await player.request({ type: 'leave', room: 'match-1' })).toMatchObject({ code: 'not_joined' });

    expect((await call('POST', '/v1/users/p1/disconnect', key)).status).toBe(202);
    expect((await player.closed).code).toBe(CLOSE_CODES.disconnected);
  });

  it('lifecycle - the presence HTTP API answers for the tenant of the API key only', async () => {
    await call('POST', '/v1/admin/tenants', ADMIN, { ns: 'chat' });
    const key = (await call('POST', '/v1/admin/tenants/chat/keys', ADMIN)).body.key as string;
    await connect(await mint(key, 'carol', { info: { name: 'Carol' } }), ['general']);
    await connect(await mint(key, 'carol'), ['general']);
    const members = await call('GET', '/v1/rooms/general/members', key);
    expect(members.status).toBe(200);
    expect(members.body).toMatchObject({ users: 1, connections: 2, members: [{ user: 'carol', connections: 2 }] });
    expect((await call('GET', '/v1/users/carol/rooms', key)).body).toMatchObject({ rooms: ['general'] });
    await call('POST', '/v1/admin/tenants', ADMIN, { ns: 'other' });
    const otherKey = (await call('POST', '/v1/admin/tenants/other/keys', ADMIN)).body.key as string;
    expect((await call('GET', '/v1/rooms/general/count', otherKey)).body).toMatchObject({ users: 0, connections: 0 });
    expect((await call('GET', '/v1/rooms/general/count', 'pk_chat_wrong')).status).toBe(401);
  });

  it('lifecycle - a tenant with history: acks carry seq, a reconnect with since gets what it missed, history pages', async () => {
    await call('POST', '/v1/admin/tenants', ADMIN, { ns: 'diary', settings: { history: { enabled: true, maxMessagesPerRoom: 50 } } });
    const key = (await call('POST', '/v1/admin/tenants/diary/keys', ADMIN)).body.key as string;
    const grants = { '*': ['subscribe', 'publish', 'history'] };
    const writer = await connect(await mint(key, 'writer', { grants }), ['log']);
    const reader = await connect(await mint(key, 'reader', { grants }), ['log']);
    const first = await writer.request({ type: 'publish', room: 'log', data: 0 });
    expect(typeof first.seq).toBe('number');
    const seen = (await reader.waitFor('message')).seq as number;
    await reader.close();
    for (let i = 1; i <= 5; i++) await writer.request({ type: 'publish', room: 'log', data: i });
    expect((await call('POST', '/v1/rooms/log/publish', key, { data: 'server' })).status).toBe(202);
    const back = await connect(await mint(key, 'reader', { grants }));
    expect(await back.request({ type: 'join', room: 'log', since: seen })).toMatchObject({ type: 'joined' });
    const missed = [];
    for (let i = 0; i < 6; i++) missed.push((await back.waitFor('message')).data);
    expect(missed).toEqual([1, 2, 3, 4, 5, 'server']);
    const page = await back.request({ type: 'history', room: 'log', limit: 3 });
    expect(page).toMatchObject({ type: 'history', more: true });
    expect((page.messages as Array<{ data: unknown }>).map((m) => m.data)).toEqual([4, 5, 'server']);
  });

  it('lifecycle - an API key of one tenant cannot act on another tenant', async () => {
    await call('POST', '/v1/admin/tenants', ADMIN, { ns: 'alpha' });
    await call('POST', '/v1/admin/tenants', ADMIN, { ns: 'beta' });
    const alphaKey = (await call('POST', '/v1/admin/tenants/alpha/keys', ADMIN)).body.key as string;
    const betaKey = (await call('POST', '/v1/admin/tenants/beta/keys', ADMIN)).body.key as string;
    const betaUser = await connect(await mint(betaKey, 'b'), ['room']);
    expect((await call('POST', '/v1/tokens', alphaKey, { user: 'x', ns: 'beta', grants: {} })).status).toBe(403);
    await call('POST', '/v1/rooms/room/publish', alphaKey, { data: 'from alpha' });
    await call('POST', '/v1/users/b/disconnect', alphaKey);
    await betaUser.request({ type: 'ping' });
    expect(betaUser.all('message')).toHaveLength(0);
    expect(betaUser.isClosed).toBe(false);
  });

  it('lifecycle - tenant limits and allowed origins travel in the token and are enforced', async () => {
    await call('POST', '/v1/admin/tenants', ADMIN, { ns: 'strict', settings: { allowedOrigins: ['https://app.example'], maxRooms: 1 } });
    const key = (await call('POST', '/v1/admin/tenants/strict/keys', ADMIN)).body.key as string;
    const token = await mint(key, 'u');
    const wrong = await connectClient(ws, { token, origin: 'https://evil.example' });
    expect((await wrong.waitFor('error')).code).toBe('origin_not_allowed');
    const right = await connectClient(ws, { token, origin: 'https://app.example' });
    clients.push(right);
    const welcome = await right.waitFor('welcome');
    expect((welcome.limits as { maxRooms: number }).maxRooms).toBe(1);
    expect(await right.request({ type: 'join', room: 'one' })).toMatchObject({ type: 'joined' });
    expect(await right.request({ type: 'join', room: 'two' })).toMatchObject({ type: 'error', code: 'too_many_rooms' });
  });
});

describe('lifecycle across a restart', () => {
  it('lifecycle - a ban, a room setting and the audit log outlive a restart of the process (moderation.json in the data directory)', async () => {
    const tenant = await call('POST', '/v1/admin/tenants', ADMIN, { ns: 'club' });
    expect(tenant.status).toBe(201);
    const key = (await call('POST', '/v1/admin/tenants/club/keys', ADMIN)).body.key as string;
    const victim = await connect(await mint(key, 'mallory'), ['hall']);
    expect((await call('POST', '/v1/rooms/hall/bans', key, { user: 'mallory', reason: 'spam' })).status).toBeLessThan(300);
    expect(await victim.waitFor((f) => f.type === 'error' && f.room === 'hall')).toMatchObject({ code: 'banned' });
    expect((await call('PATCH', '/v1/rooms/hall/settings', key, { slowModeSeconds: 30 })).status).toBe(200);

    await parley.close();
    parley = await startEmbedded({ host: '127.0.0.1', port: 0, dataDir, adminToken: ADMIN, logger: createLogger('parley', { level: 'silent' }), drainMs: 0 });
    base = `http://127.0.0.1:${parley.gateway.port}`;
    ws = `ws://127.0.0.1:${parley.gateway.port}/v1/ws`;

    const again = await connect(await mint(key, 'mallory'));
    expect(await again.request({ type: 'join', room: 'hall' })).toMatchObject({ type: 'error', code: 'banned' });
    const member = await connect(await mint(key, 'bob'), ['hall']);
    expect(await member.request({ type: 'publish', room: 'hall', data: 1 })).toMatchObject({ type: 'ack' });
    expect(await member.request({ type: 'publish', room: 'hall', data: 2 })).toMatchObject({ type: 'error', code: 'slow_mode' });
    const audit = await call('GET', '/v1/moderation/audit', key);
    expect((audit.body.entries as Array<{ action: string; target?: string }>).map((e) => [e.action, e.target ?? null])).toEqual([
      ['ban', 'mallory'],
      ['settings', null],
    ]);
  });
});

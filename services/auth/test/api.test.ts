import { describe, expect, it } from 'vitest';
import { roomMessageTimestamp, subjects } from '@parley/protocol';
import { defaultTenantSettings } from '../src/settings.ts';
import { ADMIN_TOKEN, createTestAuth, recordBus, verifyUserToken } from './support.ts';

const json = async (res: Response) => (await res.json()) as Record<string, any>;

describe('auth HTTP API', () => {
  it('admin - creates a tenant with defaults, reads, lists, updates and deletes it', async () => {
    const t = await createTestAuth();
    const created = await t.admin('POST', '/v1/admin/tenants', { ns: 'acme', settings: { maxRooms: 5, history: { enabled: true } } });
    expect(created.status).toBe(201);
    const tenant = await json(created);
    expect(tenant.ns).toBe('acme');
    expect(tenant.settings).toEqual({ ...defaultTenantSettings(), maxRooms: 5, history: { ...defaultTenantSettings().history, enabled: true } });
    expect(defaultTenantSettings()).toEqual({
      allowedOrigins: [],
      maxConnections: 10_000,
      maxFrameBytes: 16_384,
      messagesPerSecond: 20,
      burst: 40,
      maxRooms: 100,
      maxTokenTtlSeconds: 3600,
      compression: false,
      moderation: { showModerators: true },
      history: { enabled: false, maxAgeSeconds: 86_400, maxMessagesPerRoom: 1000, maxBytes: 64 * 1024 * 1024 },
    });

    expect((await t.admin('POST', '/v1/admin/tenants', { ns: 'acme' })).status).toBe(409);
    expect(await json(await t.admin('GET', '/v1/admin/tenants/acme'))).toEqual(tenant);
    await t.admin('POST', '/v1/admin/tenants', { ns: 'beta' });
    expect((await json(await t.admin('GET', '/v1/admin/tenants'))).tenants.map((x: { ns: string }) => x.ns)).toEqual(['acme', 'beta']);

    const patched = await t.admin('PATCH', '/v1/admin/tenants/acme', { settings: { allowedOrigins: ['https://app.acme.com'], history: { maxAgeSeconds: 600 } } });
    expect(patched.status).toBe(200);
    const after = await json(patched);
    expect(after.settings.allowedOrigins).toEqual(['https://app.acme.com']);
    expect(after.settings.maxRooms).toBe(5);
    expect(after.settings.history).toEqual({ ...defaultTenantSettings().history, enabled: true, maxAgeSeconds: 600 });

    expect((await t.admin('DELETE', '/v1/admin/tenants/acme')).status).toBe(204);
    const missing = await t.admin('GET', '/v1/admin/tenants/acme');
    expect(missing.status).toBe(404);
    expect(await json(missing)).toEqual({ code: 'not_found', message: 'tenant acme does not exist', temporary: false });
    expect((await t.admin('DELETE', '/v1/admin/tenants/acme')).status).toBe(404);
    expect((await t.admin('PATCH', '/v1/admin/tenants/acme', { settings: {} })).status).toBe(404);
  });

  it('admin - refuses invalid settings and namespaces with bad_frame', async () => {
    const t = await createTestAuth();
    for (const body of [
      { ns: 'Bad.NS' },
      { ns: 'acme', settings: { maxFrameBytes: 65_537 } },
      { ns: 'acme', settings: { allowedOrigins: ['https://app.acme.com/path'] } },
      { ns: 'acme', settings: { unknownSetting: 1 } },
      { ns: 'acme', settings: { maxTokenTtlSeconds: 0 } },
    ]) {
      const res = await t.admin('POST', '/v1/admin/tenants', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await json(res)).code).toBe('bad_frame');
    }
    await t.admin('POST', '/v1/admin/tenants', { ns: 'acme' });
    const res = await t.admin('PATCH', '/v1/admin/tenants/acme', { settings: { messagesPerSecond: -1 } });
    expect(res.status).toBe(400);
    expect((await json(await t.admin('GET', '/v1/admin/tenants/acme'))).settings).toEqual(defaultTenantSettings());
  });

  it('admin - a key is shown once, stored hashed, listed by prefix, and revoked at once', async () => {
    const t = await createTestAuth();
    await t.admin('POST', '/v1/admin/tenants', { ns: 'acme' });
    const res = await t.admin('POST', '/v1/admin/tenants/acme/keys');
    expect(res.status).toBe(201);
    const created = await json(res);
    expect(created.key).toMatch(/^pk_acme_[A-Za-z0-9_-]{43}$/);
    expect(created.prefix).toBe(created.key.slice(0, 'pk_acme_'.length + 4));
    const listed = await json(await t.admin('GET', '/v1/admin/tenants/acme/keys'));
    expect(listed).toEqual({ keys: [{ id: created.id, prefix: created.prefix, createdAt: created.createdAt }] });
    expect(JSON.stringify(await t.store.listApiKeys('acme'))).not.toContain(created.key.slice(8));

    const whoami = await t.call('GET', '/v1/whoami', { auth: created.key });
    expect(await json(whoami)).toEqual({ ns: 'acme', keyId: created.id });

    expect((await t.admin('DELETE', `/v1/admin/tenants/acme/keys/${created.id}`)).status).toBe(204);
    expect((await t.call('GET', '/v1/whoami', { auth: created.key })).status).toBe(401);
    expect((await t.admin('DELETE', `/v1/admin/tenants/acme/keys/${created.id}`)).status).toBe(404);
    expect((await t.admin('POST', '/v1/admin/tenants/ghost/keys')).status).toBe(404);
    expect((await t.admin('GET', '/v1/admin/tenants/ghost/keys')).status).toBe(404);
  });

  it('tokens - a minted token verifies against the JWKS and carries the tenant claims', async () => {
    const t = await createTestAuth();
    const { key } = await t.tenantWithKey('acme', { allowedOrigins: ['https://app.acme.com'], maxRooms: 7, maxTokenTtlSeconds: 600 });
    const before = Math.floor(Date.now() / 1000);
    const res = await t.mint(key, { user: 'alice@acme.com', grants: { lobby: ['subscribe', 'publish'], 'game-*': ['subscribe'] }, info: { name: 'Alice' } });
    expect(res.status).toBe(200);
    const body = await json(res);
    const jwks = (await json(await t.call('GET', '/.well-known/jwks.json'))) as { keys: object[] };
    const { payload, kid } = await verifyUserToken(body.token, jwks);
    expect(kid).toBe('test-key-1');
    expect(payload).toMatchObject({
      sub: 'alice@acme.com',
      ns: 'acme',
      grants: { lobby: ['subscribe', 'publish'], 'game-*': ['subscribe'] },
      info: { name: 'Alice' },
      iss: 'parley-auth',
      aud: 'parley-gateway',
      lim: { maxFrameBytes: 16_384, messagesPerSecond: 20, burst: 40, maxRooms: 7, maxConnections: 10_000 },
      origins: ['https://app.acme.com'],
      hist: false,
      jti: body.jti,
    });
    expect(payload.iat).toBeGreaterThanOrEqual(before);
    expect(payload.nbf).toBe(payload.iat);
    // Default lifetime is the tenant's maximum.
    expect(payload.exp).toBe(payload.iat! + 600);
    expect(body.expiresAt).toBe(payload.exp);

    const capped = await verifyUserToken((await json(await t.mint(key, { user: 'bob', grants: {}, ttlSeconds: 100_000 }))).token, jwks);
    expect(capped.payload.exp! - capped.payload.iat!).toBe(600);
    const short = await verifyUserToken((await json(await t.mint(key, { user: 'bob', grants: {}, ttlSeconds: 30 }))).token, jwks);
    expect(short.payload.exp! - short.payload.iat!).toBe(30);
    expect(short.payload.info).toBeUndefined();
    expect(short.payload.cmp).toBeUndefined();
  });

  it('tokens - a tenant with compression on mints tokens with the cmp claim (gateways with PARLEY_WS_COMPRESSION=tenant negotiate it)', async () => {
    const t = await createTestAuth();
    const { key } = await t.tenantWithKey('squeezed', { compression: true });
    const jwks = (await json(await t.call('GET', '/.well-known/jwks.json'))) as { keys: object[] };
    const minted = await verifyUserToken((await json(await t.mint(key, { user: 'carol', grants: {} }))).token, jwks);
    expect(minted.payload.cmp).toBe(true);
    expect((await t.admin('PATCH', '/v1/admin/tenants/squeezed', { settings: { compression: false } })).status).toBe(200);
    const after = await verifyUserToken((await json(await t.mint(key, { user: 'carol', grants: {} }))).token, jwks);
    expect(after.payload.cmp).toBeUndefined();
  });

  it('tokens - the user id and grants are validated', async () => {
    const t = await createTestAuth();
    const { key } = await t.tenantWithKey('acme');
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ user: '$server', grants: {} }, 'invalid_user'],
      [{ user: 'a\u0000b', grants: {} }, 'invalid_user'],
      [{ user: 'x'.repeat(129), grants: {} }, 'invalid_user'],
      [{ grants: {} }, 'invalid_user'],
      [{ user: 'alice', grants: { lobby: ['fly'] } }, 'bad_frame'],
      [{ user: 'alice', grants: { 'a.b': ['subscribe'] } }, 'bad_frame'],
      [{ user: 'alice', grants: { 'chat >': ['subscribe'] } }, 'bad_frame'],
      [{ user: 'alice', grants: {}, ttlSeconds: 0 }, 'bad_frame'],
      [{ user: 'alice', grants: {}, extra: true }, 'bad_frame'],
    ];
    for (const [body, code] of cases) {
      const res = await t.mint(key, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await json(res)).code, JSON.stringify(body)).toBe(code);
    }
    const malformed = await t.call('POST', '/v1/tokens', { auth: key, body: '{"user":' });
    expect(malformed.status).toBe(400);
    expect((await json(malformed)).code).toBe('bad_json');
    const noType = await t.call('POST', '/v1/tokens', { auth: key, headers: { 'content-type': 'text/plain' }, body: 'user=alice' });
    expect(noType.status).toBe(400);
    expect((await json(noType)).code).toBe('bad_frame');
    const metrics = await (await t.call('GET', '/metrics')).text();
    expect(metrics).toMatch(/parley_auth_token_refusals_total\{reason="invalid_user"\} 4/);
  });

  it('server API - publish reaches the room subject as one message frame, without headers', async () => {
    const t = await createTestAuth();
    const { key } = await t.tenantWithKey('acme');
    const room = 'lobby/#1';
    const rec = recordBus(t.bus, subjects.room('acme', room));
    const res = await t.call('POST', `/v1/rooms/${encodeURIComponent(room)}/publish`, { auth: key, body: { data: { text: 'hi' } } });
    expect(res.status).toBe(202);
    const { msgId } = await json(res);
    await rec.until(1);
    const message = rec.json(0);
    expect(message).toMatchObject({ type: 'message', room, msgId, from: { user: '$server' }, data: { text: 'hi' } });
    expect(typeof message.ts).toBe('number');
    // The frame carries its id and time: no bus headers (they cost more than the publish).
    expect(rec.messages[0]!.headers).toEqual({});
    expect(roomMessageTimestamp(rec.messages[0]!.data)).toBe(message.ts);
  });

  it('server API - direct, disconnect, kick and revoke reach the bus', async () => {
    const t = await createTestAuth();
    const { key } = await t.tenantWithKey('acme');
    const direct = recordBus(t.bus, subjects.user('acme', 'a.b@x.com'));
    const control = recordBus(t.bus, subjects.control('acme'));

    const sent = await t.call('POST', `/v1/users/${encodeURIComponent('a.b@x.com')}/direct`, { auth: key, body: { data: 'psst' } });
    expect(sent.status).toBe(202);
    await direct.until(1);
    expect(direct.json(0)).toMatchObject({ type: 'direct', msgId: (await json(sent)).msgId, from: { user: '$server' }, data: 'psst' });

    expect((await t.call('POST', '/v1/users/alice/disconnect', { auth: key, body: { reason: 'bye' } })).status).toBe(202);
    expect((await t.call('POST', '/v1/users/bob/disconnect', { auth: key })).status).toBe(202);
    expect((await t.call('POST', '/v1/rooms/lobby/kick', { auth: key, body: { user: 'carol' } })).status).toBe(202);
    const revoked = await t.call('POST', '/v1/users/dave/revoke', { auth: key });
    expect(revoked.status).toBe(202);
    const { before } = await json(revoked);
    await control.until(4);
    expect(control.messages.map((_, i) => control.json(i))).toEqual([
      { op: 'disconnect', user: 'alice', reason: 'bye' },
      { op: 'disconnect', user: 'bob' },
      { op: 'kick', user: 'carol', room: 'lobby' },
      { op: 'revoke', user: 'dave', before },
    ]);
    expect(await t.store.getUserRevocation('acme', 'dave')).toBe(before);

    // A token minted right after the revocation is not caught by it ("issued at or before").
    const jwks = t.auth.jwks() as { keys: object[] };
    const { payload } = await verifyUserToken((await json(await t.mint(key, { user: 'dave', grants: {} }))).token, jwks);
    expect(payload.iat).toBeGreaterThan(before);
  });

  it('server API - names and sizes are validated', async () => {
    const t = await createTestAuth();
    const { key } = await t.tenantWithKey('acme', { maxFrameBytes: 256 });
    for (const room of ['a.b', 'a*', 'a>', 'a b', 'x'.repeat(129)]) {
      const res = await t.call('POST', `/v1/rooms/${encodeURIComponent(room)}/publish`, { auth: key, body: { data: 1 } });
      expect(res.status, room).toBe(400);
      expect((await json(res)).code, room).toBe('invalid_room');
    }
    const badUser = await t.call('POST', `/v1/users/${encodeURIComponent('$server')}/direct`, { auth: key, body: { data: 1 } });
    expect((await json(badUser)).code).toBe('invalid_user');
    const noData = await t.call('POST', '/v1/rooms/lobby/publish', { auth: key, body: {} });
    expect((await json(noData)).code).toBe('bad_frame');
    const big = await t.call('POST', '/v1/rooms/lobby/publish', { auth: key, body: { data: 'x'.repeat(300) } });
    expect(big.status).toBe(413);
    expect((await json(big)).code).toBe('frame_too_large');
    const huge = await t.call('POST', '/v1/rooms/lobby/publish', { auth: key, body: { data: 'x'.repeat(300_000) } });
    expect(huge.status).toBe(413);
    const kickBad = await t.call('POST', '/v1/rooms/lobby/kick', { auth: key, body: { user: '' } });
    expect((await json(kickBad)).code).toBe('invalid_user');
  });

  it('server API - a bus outage answers 503 unavailable, and the API recovers', async () => {
    const t = await createTestAuth();
    const { key } = await t.tenantWithKey('acme');
    t.bus.disconnectForTest(true);
    const res = await t.call('POST', '/v1/rooms/lobby/publish', { auth: key, body: { data: 1 } });
    expect(res.status).toBe(503);
    expect(await json(res)).toEqual({ code: 'unavailable', message: 'the message bus is unavailable; retry shortly', temporary: true });
    expect((await t.call('POST', '/v1/users/alice/disconnect', { auth: key })).status).toBe(503);
    // Tokens do not need the bus.
    expect((await t.mint(key, { user: 'alice', grants: {} })).status).toBe(200);
    t.bus.disconnectForTest(false);
    expect((await t.call('POST', '/v1/rooms/lobby/publish', { auth: key, body: { data: 1 } })).status).toBe(202);
  });

  it('operations - health, readiness, metrics, JWKS caching and unknown routes', async () => {
    const t = await createTestAuth();
    const { key } = await t.tenantWithKey('acme');
    await t.mint(key, { user: 'alice', grants: {} });
    expect(await json(await t.call('GET', '/healthz'))).toEqual({ status: 'ok' });
    expect(await json(await t.call('GET', '/readyz'))).toEqual({ ready: true, bus: 'connected' });
    const jwks = await t.call('GET', '/.well-known/jwks.json');
    expect(jwks.headers.get('cache-control')).toBe('public, max-age=300');
    const set = await json(jwks);
    expect(set.keys).toEqual([expect.objectContaining({ kid: 'test-key-1', alg: 'ES256', kty: 'EC', crv: 'P-256', use: 'sig' })]);
    expect(set.keys[0].d).toBeUndefined();
    const metrics = await (await t.call('GET', '/metrics')).text();
    expect(metrics).toMatch(/^parley_auth_tokens_minted_total [1-9]/m);
    expect(metrics).not.toContain('tenant=');
    expect(metrics).toMatch(/parley_auth_admin_requests_total\{outcome="ok"\} 2/);
    const unknown = await t.call('GET', '/v1/nothing');
    expect(unknown.status).toBe(404);
    expect((await json(unknown)).code).toBe('not_found');
    await t.auth.close();
    const notReady = await t.call('GET', '/readyz');
    expect(notReady.status).toBe(503);
    expect(await json(notReady)).toEqual({ ready: false, reason: 'shutting down', bus: 'connected' });
    expect(ADMIN_TOKEN.length).toBeGreaterThanOrEqual(16);
  });
});

import { SignJWT, errors as joseErrors } from 'jose';
import { describe, expect, it } from 'vitest';
import { subjects } from '@parley/protocol';
import { generateSigningKeys } from '../src/keys/signing-keys.ts';
import { ADMIN_TOKEN, createTestAuth, recordBus, verifyUserToken } from './support.ts';

const json = async (res: Response) => (await res.json()) as Record<string, any>;
const byTestIp = { getClientIp: (c: { req: { header(name: string): string | undefined } }) => c.req.header('x-test-ip') ?? 'unknown' };

describe('auth attacks', () => {
  it('attack - a revoked API key cannot mint, at once', async () => {
    const t = await createTestAuth();
    const { key, keyId } = await t.tenantWithKey('acme');
    expect((await t.mint(key, { user: 'alice', grants: {} })).status).toBe(200);
    expect((await t.admin('DELETE', `/v1/admin/tenants/acme/keys/${keyId}`)).status).toBe(204);
    const res = await t.mint(key, { user: 'alice', grants: {} });
    expect(res.status).toBe(401);
    expect(await json(res)).toEqual({ code: 'unauthorized', message: 'the API key is not valid (unknown or revoked)', temporary: false });
  });

  it('attack - the key of a deleted tenant is refused', async () => {
    const t = await createTestAuth();
    const { key } = await t.tenantWithKey('acme');
    await t.admin('DELETE', '/v1/admin/tenants/acme');
    await t.admin('POST', '/v1/admin/tenants', { ns: 'acme' });
    expect((await t.mint(key, { user: 'alice', grants: {} })).status).toBe(401);
  });

  it('attack - an API key of tenant A cannot mint for or act on tenant B', async () => {
    const t = await createTestAuth();
    const a = await t.tenantWithKey('tenant-a');
    await t.tenantWithKey('tenant-b');
    const refused = await t.mint(a.key, { user: 'alice', grants: { '*': ['subscribe'] }, ns: 'tenant-b' });
    expect(refused.status).toBe(403);
    expect(await json(refused)).toEqual({ code: 'namespace_mismatch', message: 'this API key belongs to namespace tenant-a, not tenant-b', temporary: false });

    const { payload } = await verifyUserToken((await json(await t.mint(a.key, { user: 'alice', grants: {}, ns: 'tenant-a' }))).token, t.auth.jwks() as { keys: object[] });
    expect(payload.ns).toBe('tenant-a');

    // Server API: the namespace comes from the key, whatever the body says.
    const onB = recordBus(t.bus, 'chat.tenant-b.>');
    const onA = recordBus(t.bus, subjects.room('tenant-a', 'lobby'));
    const ctlB = recordBus(t.bus, subjects.control('tenant-b'));
    const extra = await t.call('POST', '/v1/rooms/lobby/publish', { auth: a.key, body: { data: 1, ns: 'tenant-b' } });
    expect(extra.status).toBe(400);
    expect((await t.call('POST', '/v1/rooms/lobby/publish', { auth: a.key, body: { data: 1 } })).status).toBe(202);
    expect((await t.call('POST', '/v1/users/bob/revoke', { auth: a.key })).status).toBe(202);
    await onA.until(1);
    await new Promise((r) => setImmediate(r));
    expect(onB.messages).toHaveLength(0);
    expect(ctlB.messages).toHaveLength(0);
    expect(await t.store.getUserRevocation('tenant-b', 'bob')).toBeUndefined();

    // A tenant key is not an admin token, and cannot reach another tenant through the admin API.
    expect((await t.call('GET', '/v1/admin/tenants/tenant-b/keys', { auth: a.key })).status).toBe(401);
    expect((await t.call('POST', '/v1/admin/tenants/tenant-b/keys', { auth: a.key })).status).toBe(401);
  });

  it('attack - forged, missing or misplaced admin tokens are refused', async () => {
    const t = await createTestAuth();
    for (const auth of [undefined, 'x', `${ADMIN_TOKEN}x`, ADMIN_TOKEN.slice(0, -1), ADMIN_TOKEN.toUpperCase()]) {
      const res = await t.call('GET', '/v1/admin/tenants', { ...(auth !== undefined && { auth }) });
      expect(res.status, String(auth)).toBe(401);
      expect((await json(res)).code).toBe('unauthorized');
    }
    // The admin token is not an API key either.
    expect((await t.mint(ADMIN_TOKEN, { user: 'alice', grants: {} })).status).toBe(401);
    expect(t.logs.text()).not.toContain(ADMIN_TOKEN.slice(0, -1));
    expect(await (await t.call('GET', '/metrics')).text()).toMatch(/parley_auth_admin_requests_total\{outcome="unauthorized"\} 5/);

    const disabled = await createTestAuth({ adminToken: undefined });
    const res = await disabled.call('GET', '/v1/admin/tenants', { auth: ADMIN_TOKEN });
    expect(res.status).toBe(401);
    expect((await json(res)).message).toMatch(/PARLEY_ADMIN_TOKEN is not set/);
    await expect(createTestAuth({ adminToken: 'short' })).rejects.toThrow(/at least 16/);
  });

  it('attack - API-key brute force is rate limited per address and logged without the key', async () => {
    const t = await createTestAuth({ ...byTestIp, failureLimit: { burst: 3, refillPerSecond: 0.01 } });
    const { key } = await t.tenantWithKey('acme');
    const guesses = Array.from({ length: 3 }, (_, i) => `pk_acme_${'G'.repeat(42)}${i}`);
    for (const guess of guesses) {
      const res = await t.call('POST', '/v1/tokens', { auth: guess, body: { user: 'x', grants: {} }, headers: { 'x-test-ip': '203.0.113.9' } });
      expect(res.status).toBe(401);
    }
    const limited = await t.call('POST', '/v1/tokens', { auth: guesses[0], body: { user: 'x', grants: {} }, headers: { 'x-test-ip': '203.0.113.9' } });
    expect(limited.status).toBe(429);
    expect(await json(limited)).toEqual({ code: 'rate_limited', message: 'too many failed credential attempts from this address; retry later', temporary: true });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // While limited, even the right key is refused from that address (a right guess must look the same).
    const right = await t.call('GET', '/v1/whoami', { auth: key, headers: { 'x-test-ip': '203.0.113.9' } });
    expect(right.status).toBe(429);
    // Other addresses are not affected.
    expect((await t.call('GET', '/v1/whoami', { auth: key, headers: { 'x-test-ip': '198.51.100.1' } })).status).toBe(200);

    const logText = t.logs.text();
    const rejected = t.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'API key rejected: unknown or revoked');
    expect(rejected).toHaveLength(3);
    expect(rejected[0]).toMatchObject({ level: 'warn', ip: '203.0.113.9', keyHint: 'pk_acme_' });
    for (const guess of guesses) expect(logText).not.toContain(guess.slice('pk_acme_'.length, 'pk_acme_'.length + 10));
    expect(logText).not.toContain(key.slice('pk_acme_'.length));
    expect(logText).not.toContain('GGGG');
    expect(await (await t.call('GET', '/metrics')).text()).toContain('parley_auth_api_key_failures_total 5');

    // Admin-token guesses drain the same allowance.
    const adminT = await createTestAuth({ ...byTestIp, failureLimit: { burst: 2, refillPerSecond: 0.01 } });
    for (let i = 0; i < 2; i++) expect((await adminT.call('GET', '/v1/admin/tenants', { auth: `guess-${i}`, headers: { 'x-test-ip': '203.0.113.7' } })).status).toBe(401);
    expect((await adminT.call('GET', '/v1/admin/tenants', { auth: ADMIN_TOKEN, headers: { 'x-test-ip': '203.0.113.7' } })).status).toBe(429);
  });

  it('attack - malformed keys are hinted as malformed, never echoed', async () => {
    const t = await createTestAuth();
    const secret = 'sk_live_ZZZZsecretZZZZ';
    expect((await t.call('GET', '/v1/whoami', { auth: secret })).status).toBe(401);
    expect((await t.call('GET', '/v1/whoami', { auth: 'pk_Evil.NS_abc' })).status).toBe(401);
    expect((await t.call('GET', '/v1/whoami')).status).toBe(401);
    const text = t.logs.text();
    expect(text).not.toContain('ZZZZsecret');
    expect(text).not.toContain('Evil');
    expect(text).toContain('"keyHint":"malformed"');
  });

  describe('verification of minted tokens (what a gateway must refuse)', () => {
    it('verify - alg none, HS256 keyed with the public key, an unknown kid and another key are refused', async () => {
      const t = await createTestAuth();
      const { key } = await t.tenantWithKey('acme');
      const { token } = await json(await t.mint(key, { user: 'alice', grants: { '*': ['publish'] } }));
      const jwks = t.auth.jwks() as { keys: Array<Record<string, unknown>> };
      await expect(verifyUserToken(token, jwks)).resolves.toBeTruthy();

      const [, payload] = token.split('.');
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
      await expect(verifyUserToken(none, jwks)).rejects.toThrow();

      const hs = await new SignJWT(JSON.parse(Buffer.from(payload!, 'base64url').toString()))
        .setProtectedHeader({ alg: 'HS256', kid: 'test-key-1' })
        .sign(new TextEncoder().encode(JSON.stringify(jwks.keys[0])));
      await expect(verifyUserToken(hs, jwks)).rejects.toThrow();

      const other = await generateSigningKeys({ kid: 'test-key-1' });
      const forged = await new SignJWT({ ns: 'acme', grants: { '*': ['moderate'] } })
        .setProtectedHeader({ alg: 'ES256', kid: 'test-key-1' })
        .setSubject('mallory')
        .setIssuer('parley-auth')
        .setAudience('parley-gateway')
        .setJti('x')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(other.active.privateKey);
      await expect(verifyUserToken(forged, jwks)).rejects.toBeInstanceOf(joseErrors.JWSSignatureVerificationFailed);
      const unknownKid = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'nope' }).setExpirationTime('5m').sign(other.active.privateKey);
      await expect(verifyUserToken(unknownKid, jwks)).rejects.toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
    });

    it('verify - expired, not-yet-valid, wrong audience and wrong issuer tokens are refused', async () => {
      const t = await createTestAuth();
      const { key } = await t.tenantWithKey('acme');
      const jwks = t.auth.jwks() as { keys: object[] };
      const { token, expiresAt } = await json(await t.mint(key, { user: 'alice', grants: {}, ttlSeconds: 60 }));
      await expect(verifyUserToken(token, jwks, { currentDate: new Date((expiresAt + 1) * 1000) })).rejects.toBeInstanceOf(joseErrors.JWTExpired);
      await expect(verifyUserToken(token, jwks, { currentDate: new Date((expiresAt - 120) * 1000) })).rejects.toBeInstanceOf(joseErrors.JWTClaimValidationFailed);
      const sign = (aud: string, iss: string) =>
        new SignJWT({ ns: 'acme', grants: {} })
          .setProtectedHeader({ alg: 'ES256', kid: t.keys.active.kid })
          .setSubject('alice')
          .setJti('j')
          .setIssuer(iss)
          .setAudience(aud)
          .setIssuedAt()
          .setExpirationTime('5m')
          .sign(t.keys.active.privateKey);
      await expect(verifyUserToken(await sign('parley-gateway', 'parley-auth'), jwks)).resolves.toBeTruthy();
      await expect(verifyUserToken(await sign('other-service', 'parley-auth'), jwks)).rejects.toBeInstanceOf(joseErrors.JWTClaimValidationFailed);
      await expect(verifyUserToken(await sign('parley-gateway', 'someone-else'), jwks)).rejects.toBeInstanceOf(joseErrors.JWTClaimValidationFailed);
    });
  });
});

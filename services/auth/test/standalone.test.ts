import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type ServerProcess } from '@parley/testkit';
import { generateSigningKeyJwk, writeSigningKeyFile } from '../src/keys/signing-keys.ts';
import { startAuthProcess, type AuthProcess } from './process-support.ts';
import { ADMIN_TOKEN, verifyUserToken } from './support.ts';

const DEMO_KEY = /pk_demo_[A-Za-z0-9_-]{43}/;

describe('standalone auth process', () => {
  let dataDir: string;
  const running: AuthProcess[] = [];
  let redis: ServerProcess | undefined;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'parley-auth-main-'));
  });
  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop('SIGKILL')));
    await redis?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('main - file store: demo key printed once, tokens verify, brute force limited, a restart keeps keys and tenants', async () => {
    const auth = await startAuthProcess({ PARLEY_DATA_DIR: join(dataDir, 'file'), PARLEY_ADMIN_TOKEN: ADMIN_TOKEN });
    running.push(auth);
    const demoKey = DEMO_KEY.exec(auth.stdout())?.[0];
    expect(demoKey, auth.stdout()).toBeDefined();
    expect(await (await fetch(`${auth.url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${auth.url}/readyz`)).status).toBe(200);

    const mint = (key: string) =>
      fetch(`${auth.url}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'alice', grants: { '*': ['subscribe', 'publish'] } }),
      });
    const minted = await mint(demoKey!);
    expect(minted.status).toBe(200);
    const { token } = (await minted.json()) as { token: string };
    const jwks = (await (await fetch(`${auth.url}/.well-known/jwks.json`)).json()) as { keys: object[] };
    expect((await verifyUserToken(token, jwks)).payload).toMatchObject({ sub: 'alice', ns: 'demo' });
    expect((await fetch(`${auth.url}/v1/admin/tenants`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{"ns":"acme"}' })).status).toBe(201);

    // The limiter counts by the socket address of the real connection (127.0.0.1 here).
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await mint(`pk_demo_${'x'.repeat(43)}`)).status);
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses[10]).toBe(429);

    expect(await auth.stop('SIGTERM')).toBe(0);
    await auth.restart();
    expect(auth.stdout()).not.toMatch(DEMO_KEY);
    // Same signing key (the old token verifies against the new JWKS), same demo key, same tenants.
    const jwksAfter = (await (await fetch(`${auth.url}/.well-known/jwks.json`)).json()) as { keys: object[] };
    expect((await verifyUserToken(token, jwksAfter)).payload.sub).toBe('alice');
    expect((await mint(demoKey!)).status).toBe(200);
    const tenants = (await (await fetch(`${auth.url}/v1/admin/tenants`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { tenants: Array<{ ns: string }> };
    expect(tenants.tenants.map((t) => t.ns)).toEqual(['acme', 'demo']);
  });

  it('main - Redis store and a signing-keys folder: tenants survive a restart, the active kid signs', async () => {
    redis = await startRedis();
    const keysDir = join(dataDir, 'keys');
    await mkdir(keysDir);
    await writeSigningKeyFile(keysDir, await generateSigningKeyJwk('ES256', 'k1'));
    await writeSigningKeyFile(keysDir, await generateSigningKeyJwk('EdDSA', 'k2'));
    const env = {
      PARLEY_DATA_DIR: join(dataDir, 'redis'),
      PARLEY_ADMIN_TOKEN: ADMIN_TOKEN,
      REDIS_URL: redis.url,
      PARLEY_SIGNING_KEYS_DIR: keysDir,
      PARLEY_ACTIVE_KEY_ID: 'k2',
      PARLEY_DEMO_API_KEY: 'configured-demo-key',
    };
    const auth = await startAuthProcess(env);
    running.push(auth);
    expect(auth.stdout()).not.toContain('configured-demo-key');
    const jwks = (await (await fetch(`${auth.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((k) => k.kid)).toEqual(['k1', 'k2']);
    const res = await fetch(`${auth.url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: 'Bearer configured-demo-key', 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'bob', grants: {} }),
    });
    expect(res.status).toBe(200);
    expect((await verifyUserToken(((await res.json()) as { token: string }).token, jwks)).kid).toBe('k2');
    await fetch(`${auth.url}/v1/admin/tenants`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{"ns":"kept"}' });
    await auth.restart();
    const tenant = await fetch(`${auth.url}/v1/admin/tenants/kept`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(tenant.status).toBe(200);
  });
});

import { mkdtempSync, rmSync, unlinkSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeyJwk, writeSigningKeyFile } from '@parley/auth';
import type { TestClient } from '@parley/testkit';
import { connectUser, mintUserToken, startCluster, type Cluster } from '../src/index.ts';

const keysDir = mkdtempSync(join(tmpdir(), 'parley-rotation-'));
let cluster: Cluster;
const open: TestClient[] = [];

async function restartAuth(activeKeyId: string) {
  await cluster.auth.stop('SIGTERM');
  cluster.auth.options.env.PARLEY_ACTIVE_KEY_ID = activeKeyId;
  await cluster.auth.start();
}

beforeAll(async () => {
  await writeSigningKeyFile(keysDir, await generateSigningKeyJwk('ES256', 'key-a'));
  cluster = await startCluster({
    gateways: 2,
    jetstream: false,
    env: { PARLEY_SIGNING_KEYS_DIR: keysDir, PARLEY_ACTIVE_KEY_ID: 'key-a', PARLEY_DRAIN_MS: '100', PARLEY_LOG_LEVEL: 'warn' },
    gatewayEnv: { PARLEY_JWKS_COOLDOWN_MS: '200' },
  });
}, 60_000);
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await cluster?.stop();
  rmSync(keysDir, { recursive: true, force: true });
});

describe('key rotation', () => {
  it('key rotation - clients holding old-key tokens stay connected while new tokens are signed with the new key', async () => {
    const oldToken = await mintUserToken(cluster, 'veteran');
    expect(decodeProtectedHeader(oldToken).kid).toBe('key-a');
    const veteran = await connectUser(cluster.gateways[0]!, oldToken, ['hall']);
    open.push(veteran);

    // 1. Publish the new key while the old one still signs.
    await writeSigningKeyFile(keysDir, await generateSigningKeyJwk('ES256', 'key-b'));
    await restartAuth('key-a');
    const jwks = (await (await fetch(cluster.jwksUrl)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual(['key-a', 'key-b']);

    // 2. Switch signing to the new key.
    await restartAuth('key-b');
    const newToken = await mintUserToken(cluster, 'newcomer');
    expect(decodeProtectedHeader(newToken).kid).toBe('key-b');
    await new Promise((r) => setTimeout(r, 250)); // past the gateways' refetch cooldown (200 ms here)
    const newcomer = await connectUser(cluster.gateways[0]!, newToken, ['hall']);
    const elsewhere = await connectUser(cluster.gateways[1]!, await mintUserToken(cluster, 'other'), ['hall']);
    open.push(newcomer, elsewhere);

    await newcomer.request({ type: 'publish', room: 'hall', data: 'signed by b' });
    await veteran.waitFor((f) => f.type === 'message' && f.data === 'signed by b');
    await elsewhere.waitFor((f) => f.type === 'message' && f.data === 'signed by b');
    expect(veteran.isClosed).toBe(false);
    expect((await veteran.request({ type: 'refresh', token: await mintUserToken(cluster, 'veteran') })).type).toBe('ack');

    // 3. Once old tokens have expired, the old key goes.
    for (const f of readdirSync(keysDir)) if (f.startsWith('key-a')) unlinkSync(join(keysDir, f));
    await restartAuth('key-b');
    const after = (await (await fetch(cluster.jwksUrl)).json()) as { keys: Array<{ kid: string }> };
    expect(after.keys.map((k) => k.kid)).toEqual(['key-b']);
  });
});

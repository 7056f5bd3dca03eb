import { mkdtemp, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errors as joseErrors } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DATA_DIR_KEYS_FOLDER, generateSigningKeyJwk, loadSigningKeys, writeSigningKeyFile } from '../src/keys/signing-keys.ts';
import { createMemoryTenantStore } from '../src/store/memory-tenant-store.ts';
import { createTestAuth, verifyUserToken } from './support.ts';

const json = async (res: Response) => (await res.json()) as Record<string, any>;

describe('signing keys', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parley-auth-keys-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keys - without a keys folder, one ES256 key is generated in the data dir and kept across restarts', async () => {
    const first = await loadSigningKeys({ dataDir: dir });
    expect(first.active.alg).toBe('ES256');
    const files = await readdir(join(dir, DATA_DIR_KEYS_FOLDER));
    expect(files).toEqual([`${first.active.kid}.private.jwk.json`]);
    expect((await stat(join(dir, DATA_DIR_KEYS_FOLDER, files[0]!))).mode & 0o777).toBe(0o600);
    const second = await loadSigningKeys({ dataDir: dir });
    expect(second.active.kid).toBe(first.active.kid);
    expect(second.jwks()).toEqual(first.jwks());
    expect(JSON.stringify(first.jwks())).not.toContain('"d"');
  });

  it('keys - rotation: a new key is published first, then signs; old tokens verify until the old key is removed', async () => {
    await writeSigningKeyFile(dir, await generateSigningKeyJwk('ES256', 'old'));
    const store = createMemoryTenantStore();

    // 1. Only the old key.
    const before = await createTestAuth({ store, keys: await loadSigningKeys({ dir }) });
    const { key } = await before.tenantWithKey('acme');
    const oldToken = (await json(await before.mint(key, { user: 'alice', grants: {} }))).token as string;

    // 2. The new key is added; the old one still signs, both are published.
    await writeSigningKeyFile(dir, await generateSigningKeyJwk('EdDSA', 'new'));
    await expect(loadSigningKeys({ dir })).rejects.toThrow(/PARLEY_ACTIVE_KEY_ID/);
    const published = await createTestAuth({ store, keys: await loadSigningKeys({ dir, activeKeyId: 'old' }) });
    const jwks2 = (await json(await published.call('GET', '/.well-known/jwks.json'))) as { keys: Array<{ kid: string; alg: string }> };
    expect(jwks2.keys.map((k) => [k.kid, k.alg])).toEqual([
      ['new', 'EdDSA'],
      ['old', 'ES256'],
    ]);
    expect((await verifyUserToken((await json(await published.mint(key, { user: 'alice', grants: {} }))).token, jwks2)).kid).toBe('old');

    // 3. The new key becomes active: new tokens carry its kid, old tokens still verify.
    const switched = await createTestAuth({ store, keys: await loadSigningKeys({ dir, activeKeyId: 'new' }) });
    const jwks3 = switched.auth.jwks() as { keys: object[] };
    const newToken = (await json(await switched.mint(key, { user: 'alice', grants: {} }))).token as string;
    const verifiedNew = await verifyUserToken(newToken, jwks3);
    expect(verifiedNew.kid).toBe('new');
    expect(JSON.parse(Buffer.from(newToken.split('.')[0]!, 'base64url').toString())).toMatchObject({ alg: 'EdDSA', kid: 'new' });
    expect((await verifyUserToken(oldToken, jwks3)).payload.sub).toBe('alice');

    // 4. After the longest token lifetime the old key is removed: only its tokens stop verifying.
    await unlink(join(dir, 'old.private.jwk.json'));
    const after = await createTestAuth({ store, keys: await loadSigningKeys({ dir }) });
    const jwks4 = after.auth.jwks() as { keys: object[] };
    await expect(verifyUserToken(oldToken, jwks4)).rejects.toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
    expect((await verifyUserToken(newToken, jwks4)).kid).toBe('new');
  });

  it('keys - bad key folders fail loudly', async () => {
    await expect(loadSigningKeys({ dir })).rejects.toThrow(/no \*\.private\.jwk\.json/);
    const jwk = await generateSigningKeyJwk('ES256', 'one');
    await writeSigningKeyFile(dir, jwk);
    await expect(writeSigningKeyFile(dir, jwk)).rejects.toThrow(/exists/);
    await expect(loadSigningKeys({ dir, activeKeyId: 'two' })).rejects.toThrow(/not among the loaded keys \(one\)/);
    await writeFile(join(dir, 'renamed.private.jwk.json'), JSON.stringify(jwk));
    await expect(loadSigningKeys({ dir, activeKeyId: 'one' })).rejects.toThrow(/differs from the file name/);
    await unlink(join(dir, 'renamed.private.jwk.json'));
    const { d: _d, ...publicOnly } = jwk;
    await writeFile(join(dir, 'pub.private.jwk.json'), JSON.stringify({ ...publicOnly, kid: 'pub' }));
    await expect(loadSigningKeys({ dir, activeKeyId: 'one' })).rejects.toThrow(/not a private key/);
    await unlink(join(dir, 'pub.private.jwk.json'));
    await writeFile(join(dir, 'hmac.private.jwk.json'), JSON.stringify({ kty: 'oct', k: 'c2VjcmV0', d: 'x' }));
    await expect(loadSigningKeys({ dir, activeKeyId: 'one' })).rejects.toThrow(/only EC P-256/);
    await unlink(join(dir, 'hmac.private.jwk.json'));
    // Files that are not keys (a Kubernetes Secret mount has ..data entries) are ignored.
    await writeFile(join(dir, 'README'), 'not a key');
    expect((await loadSigningKeys({ dir })).active.kid).toBe('one');
  });
});

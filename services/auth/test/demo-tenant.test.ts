import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashApiKey } from '../src/api-keys.ts';
import { DEMO_API_KEY_FILE, ensureDemoTenant } from '../src/demo-tenant.ts';
import { createFileTenantStore } from '../src/store/file-tenant-store.ts';
import { createMemoryTenantStore } from '../src/store/memory-tenant-store.ts';

describe('demo tenant', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parley-auth-demo-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('demo - a generated key is stored hashed, kept in a 0600 file, and the same after a restart', async () => {
    const store = await createFileTenantStore({ dataDir: dir });
    const first = await ensureDemoTenant(store, { namespace: 'demo', dataDir: dir });
    expect(first).toMatchObject({ created: true, keyCreated: true, apiKeyFile: join(dir, DEMO_API_KEY_FILE) });
    expect(first.apiKey).toMatch(/^pk_demo_/);
    expect((await readFile(join(dir, DEMO_API_KEY_FILE), 'utf8')).trim()).toBe(first.apiKey);
    expect((await stat(join(dir, DEMO_API_KEY_FILE))).mode & 0o777).toBe(0o600);
    expect((await store.findApiKeyByHash(hashApiKey(first.apiKey!)))?.ns).toBe('demo');
    expect(await readFile(join(dir, 'tenants', 'demo.json'), 'utf8')).not.toContain(first.apiKey!.slice(8));
    await store.close();

    const restarted = await createFileTenantStore({ dataDir: dir });
    const second = await ensureDemoTenant(restarted, { namespace: 'demo', dataDir: dir });
    expect(second).toEqual({ apiKey: first.apiKey, created: false, keyCreated: false, apiKeyFile: first.apiKeyFile });
    expect(await restarted.listApiKeys('demo')).toHaveLength(1);
  });

  it('demo - a kept key revoked by an operator is replaced, not restored', async () => {
    const store = createMemoryTenantStore();
    const first = await ensureDemoTenant(store, { namespace: 'demo', dataDir: dir });
    const [record] = await store.listApiKeys('demo');
    await store.deleteApiKey('demo', record!.id);
    const second = await ensureDemoTenant(store, { namespace: 'demo', dataDir: dir });
    expect(second.keyCreated).toBe(true);
    expect(second.apiKey).not.toBe(first.apiKey);
    expect(await store.findApiKeyByHash(hashApiKey(first.apiKey!))).toBeUndefined();
  });

  it('demo - a configured key (PARLEY_DEMO_API_KEY) is stored once and never written to disk', async () => {
    const store = createMemoryTenantStore();
    const apiKey = 'my-demo-key-123';
    expect(await ensureDemoTenant(store, { namespace: 'demo', apiKey, dataDir: dir })).toEqual({ apiKey, created: true, keyCreated: true });
    expect(await ensureDemoTenant(store, { namespace: 'demo', apiKey, dataDir: dir })).toEqual({ apiKey, created: false, keyCreated: false });
    expect(await store.listApiKeys('demo')).toHaveLength(1);
    await expect(stat(join(dir, DEMO_API_KEY_FILE))).rejects.toThrow();
    await expect(ensureDemoTenant(store, { namespace: 'other', apiKey })).rejects.toThrow(/already a key of tenant demo/);
    await expect(ensureDemoTenant(store, { namespace: 'demo', apiKey: 'short' })).rejects.toThrow(/PARLEY_DEMO_API_KEY/);
    await expect(ensureDemoTenant(store, { namespace: 'Not Valid' })).rejects.toThrow(/not a valid namespace/);
  });

  it('demo - without a data dir a generated key is returned once', async () => {
    const store = createMemoryTenantStore();
    const first = await ensureDemoTenant(store, { namespace: 'demo' });
    expect(first.apiKey).toMatch(/^pk_demo_/);
    expect(await ensureDemoTenant(store, { namespace: 'demo' })).toEqual({ created: false, keyCreated: false });
  });
});

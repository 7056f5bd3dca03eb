import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParleyError } from '@parley/protocol';
import { Redis } from 'ioredis';
import { startRedis, type ServerProcess } from '@parley/testkit';
import { defaultTenantSettings } from '../src/settings.ts';
import { writeFile } from 'node:fs/promises';
import { createFileTenantStore, LEGACY_TENANT_STORE_FILE, TENANT_STORE_DIR } from '../src/store/file-tenant-store.ts';
import { createMemoryTenantStore } from '../src/store/memory-tenant-store.ts';
import { createRedisTenantStore } from '../src/store/redis-tenant-store.ts';
import type { TenantStore } from '../src/store/tenant-store.ts';
import { runStoreContract } from './store-contract.ts';

runStoreContract('memory', async () => ({
  fresh: async () => createMemoryTenantStore(),
  reopen: async (store) => store,
  teardown: async () => {},
}));

runStoreContract('file', async () => {
  const root = await mkdtemp(join(tmpdir(), 'parley-auth-store-'));
  const dirs = new Map<TenantStore, string>();
  const opened: TenantStore[] = [];
  let n = 0;
  const open = async (dataDir: string) => {
    const store = await createFileTenantStore({ dataDir });
    dirs.set(store, dataDir);
    opened.push(store);
    return store;
  };
  return {
    fresh: () => open(join(root, String(n++))),
    async reopen(store) {
      await store.close();
      return open(dirs.get(store)!);
    },
    async teardown() {
      await Promise.all(opened.map((s) => s.close()));
      await rm(root, { recursive: true, force: true });
    },
  };
});

let redis: ServerProcess;
runStoreContract('redis', async () => {
  redis = await startRedis();
  const prefixes = new Map<TenantStore, string>();
  const opened: TenantStore[] = [];
  let n = 0;
  const open = async (prefix: string) => {
    const store = await createRedisTenantStore({ url: redis.url, prefix });
    prefixes.set(store, prefix);
    opened.push(store);
    return store;
  };
  return {
    fresh: () => open(`t${n++}:`),
    reopen: (store) => open(prefixes.get(store)!),
    async teardown() {
      await Promise.all(opened.map((s) => s.close()));
      await redis.stop();
    },
  };
});

describe('file tenant store', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parley-auth-file-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('file store - writes one private file per tenant atomically and leaves no temporary file', async () => {
    const store = await createFileTenantStore({ dataDir: dir });
    const at = new Date().toISOString();
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.createTenant({ ns: `n${i}`, settings: defaultTenantSettings(), createdAt: at, updatedAt: at })));
    await store.close();
    expect(await readdir(dir)).toEqual([TENANT_STORE_DIR]);
    const files = (await readdir(join(dir, TENANT_STORE_DIR))).sort();
    expect(files).toEqual(Array.from({ length: 10 }, (_, i) => `n${i}.json`).sort());
    expect((await stat(join(dir, TENANT_STORE_DIR, 'n3.json'))).mode & 0o777).toBe(0o600);
    const content = JSON.parse(await readFile(join(dir, TENANT_STORE_DIR, 'n3.json'), 'utf8')) as { tenants: Record<string, unknown> };
    expect(Object.keys(content.tenants)).toEqual(['n3']);
  });

  it("file store - a tenant's revocations rewrite only its own file", async () => {
    const data = await mkdtemp(join(tmpdir(), 'parley-auth-split-'));
    try {
      const store = await createFileTenantStore({ dataDir: data });
      const at = new Date().toISOString();
      for (const ns of ['big', 'small']) await store.createTenant({ ns, settings: defaultTenantSettings(), createdAt: at, updatedAt: at });
      const smallFile = join(data, TENANT_STORE_DIR, 'small.json');
      const before = await readFile(smallFile, 'utf8');
      const smallInode = (await stat(smallFile)).ino;
      for (let i = 0; i < 200; i++) await store.revokeUser('big', `u${i}`, 100, 3600);
      expect((await stat(smallFile)).ino).toBe(smallInode);
      expect(await readFile(smallFile, 'utf8')).toBe(before);
      await store.revokeUser('small', 'mallory', 100, 3600);
      expect(await readFile(join(data, TENANT_STORE_DIR, 'small.json'), 'utf8')).toContain('mallory');
      expect(await readFile(join(data, TENANT_STORE_DIR, 'big.json'), 'utf8')).not.toContain('mallory');
      await store.close();
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });

  it('file store - a single tenants.json of an earlier version is split into per-tenant files', async () => {
    const data = await mkdtemp(join(tmpdir(), 'parley-auth-legacy-'));
    try {
      const at = new Date().toISOString();
      const legacy = {
        version: 1,
        tenants: { alpha: { ns: 'alpha', settings: defaultTenantSettings(), createdAt: at, updatedAt: at }, beta: { ns: 'beta', settings: defaultTenantSettings(), createdAt: at, updatedAt: at } },
        keys: { ['b'.repeat(64)]: { id: 'key_000000000001', ns: 'beta', hash: 'b'.repeat(64), prefix: 'pk_beta_', createdAt: at } },
        revocations: { [JSON.stringify(['alpha', 'alice'])]: { before: 100, expiresAt: Math.floor(Date.now() / 1000) + 3600 } },
      };
      await writeFile(join(data, LEGACY_TENANT_STORE_FILE), JSON.stringify(legacy));
      const store = await createFileTenantStore({ dataDir: data });
      expect((await store.listTenants()).map((t) => t.ns)).toEqual(['alpha', 'beta']);
      expect((await store.findApiKeyByHash('b'.repeat(64)))?.ns).toBe('beta');
      expect(await store.getUserRevocation('alpha', 'alice')).toBe(100);
      expect(await store.getUserRevocation('beta', 'alice')).toBeUndefined();
      await store.close();
      expect((await readdir(data)).sort()).toEqual([TENANT_STORE_DIR, `${LEGACY_TENANT_STORE_FILE}.migrated`]);
      const again = await createFileTenantStore({ dataDir: data });
      expect(await again.getUserRevocation('alpha', 'alice')).toBe(100);
      await again.close();
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });

  it('file store - a refused write changes nothing', async () => {
    const store = await createFileTenantStore({ dataDir: dir, dirName: 'refused' });
    const at = new Date().toISOString();
    await store.createTenant({ ns: 'alpha', settings: defaultTenantSettings(), createdAt: at, updatedAt: at });
    await expect(store.createTenant({ ns: 'alpha', settings: defaultTenantSettings(), createdAt: at, updatedAt: at })).rejects.toThrow(ParleyError);
    await expect(store.addApiKey({ id: 'key_000000000000', ns: 'ghost', hash: 'a'.repeat(64), prefix: 'pk_ghost_', createdAt: at })).rejects.toThrow(ParleyError);
    const again = await createFileTenantStore({ dataDir: dir, dirName: 'refused' });
    expect((await again.listTenants()).map((t) => t.ns)).toEqual(['alpha']);
    expect(await again.listApiKeys('ghost')).toEqual([]);
  });
});

describe('redis tenant store', () => {
  it('redis store - fails fast with unavailable while Redis is down, and recovers', async () => {
    const server = await startRedis();
    const store = await createRedisTenantStore({ url: server.url, prefix: 'outage:', commandTimeoutMs: 500 });
    try {
      const at = new Date().toISOString();
      await store.createTenant({ ns: 'alpha', settings: defaultTenantSettings(), createdAt: at, updatedAt: at });
      await server.stop();
      const started = Date.now();
      const error = await store.getTenant('alpha').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ParleyError);
      expect((error as ParleyError).code).toBe('unavailable');
      await expect(store.ping()).rejects.toThrow(ParleyError);
      expect(Date.now() - started).toBeLessThan(3000);
      await server.restart();
      const deadline = Date.now() + 10_000;
      for (;;) {
        const reconnected = await store.getTenant('alpha').then(() => true, () => false);
        if (reconnected) break;
        if (Date.now() > deadline) throw new Error('the store did not reconnect');
        await new Promise((r) => setTimeout(r, 50));
      }
      // The test server keeps nothing on disk: the tenant is gone, and readiness says the data was lost.
      expect(await store.getTenant('alpha')).toBeUndefined();
      await expect(store.ping()).rejects.toThrow(/lost its data/);
    } finally {
      await store.close();
      await server.stop();
    }
  });

  it('redis store - ping fails when the data was flushed under a running store, and not for a new store on it', async () => {
    const server = await startRedis();
    const store = await createRedisTenantStore({ url: server.url, prefix: 'flush:' });
    const admin = new Redis(server.url);
    try {
      await store.ping();
      await admin.flushall();
      await expect(store.ping()).rejects.toMatchObject({ code: 'unavailable', message: expect.stringMatching(/lost its data/) });
      const fresh = await createRedisTenantStore({ url: server.url, prefix: 'flush:' });
      await fresh.ping();
      await fresh.close();
    } finally {
      admin.disconnect();
      await store.close();
      await server.stop();
    }
  });

  it('redis store - the factory rejects with unavailable when Redis cannot be reached', async () => {
    const server = await startRedis();
    const url = server.url;
    await server.stop();
    const error = await createRedisTenantStore({ url, connectWaitMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParleyError);
    expect((error as ParleyError).code).toBe('unavailable');
  });
});

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ParleyError } from '@parley/protocol';
import { defaultTenantSettings } from '../src/settings.ts';
import type { ApiKeyRecord, Tenant, TenantStore } from '../src/store/tenant-store.ts';

/** What the contract needs from an implementation. */
export interface StoreHarness {
  /** A store on a fresh, empty backend (a new file, a new key prefix). */
  fresh(): Promise<TenantStore>;
  /** A second store instance on the same backend as `store` (a restart, another replica). */
  reopen(store: TenantStore): Promise<TenantStore>;
  teardown(): Promise<void>;
}

let sequence = 0;
const tenant = (ns: string, patch: Partial<Tenant> = {}): Tenant => ({
  ns,
  settings: defaultTenantSettings(),
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  ...patch,
});
const key = (ns: string, patch: Partial<ApiKeyRecord> = {}): ApiKeyRecord => {
  sequence += 1;
  const n = String(sequence).padStart(12, '0');
  return { id: `key_${n}`, ns, hash: n.padStart(64, 'a'), prefix: `pk_${ns}_abcd`, createdAt: `2026-01-01T00:00:${String(sequence % 60).padStart(2, '0')}.000Z`, ...patch };
};

async function rejectsWith(promise: Promise<unknown>, code: string) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ParleyError);
  expect((error as ParleyError).code).toBe(code);
}

/** The tenant-store contract: every implementation of `TenantStore` must pass it. */
export function runStoreContract(name: string, setup: () => Promise<StoreHarness>) {
  describe(`tenant store contract (${name})`, () => {
    let harness: StoreHarness;
    let store: TenantStore;
    beforeAll(async () => {
      harness = await setup();
    });
    afterAll(async () => {
      await harness?.teardown();
    });
    beforeEach(async () => {
      store = await harness.fresh();
    });

    it('store - creates, reads, lists and refuses a duplicate tenant', async () => {
      await store.createTenant(tenant('beta'));
      await store.createTenant(tenant('alpha'));
      expect(await store.getTenant('alpha')).toEqual(tenant('alpha'));
      expect(await store.getTenant('missing')).toBeUndefined();
      expect((await store.listTenants()).map((t) => t.ns)).toEqual(['alpha', 'beta']);
      await rejectsWith(store.createTenant(tenant('alpha')), 'conflict');
    });

    it('store - replaces an existing tenant only', async () => {
      await store.createTenant(tenant('alpha'));
      const changed = tenant('alpha', { settings: { ...defaultTenantSettings(), maxRooms: 7 }, updatedAt: '2026-02-02T00:00:00.000Z' });
      expect(await store.replaceTenant(changed)).toBe(true);
      expect(await store.getTenant('alpha')).toEqual(changed);
      expect(await store.replaceTenant(tenant('ghost'))).toBe(false);
      expect(await store.getTenant('ghost')).toBeUndefined();
    });

    it('store - returned tenants are copies', async () => {
      await store.createTenant(tenant('alpha'));
      const read = (await store.getTenant('alpha'))!;
      read.settings.maxRooms = 1;
      expect((await store.getTenant('alpha'))!.settings.maxRooms).toBe(defaultTenantSettings().maxRooms);
    });

    it('store - API keys are found by hash, listed oldest first, and gone once deleted', async () => {
      await store.createTenant(tenant('alpha'));
      const first = key('alpha');
      const second = key('alpha');
      await store.addApiKey(first);
      await store.addApiKey(second);
      expect(await store.findApiKeyByHash(first.hash)).toEqual(first);
      expect(await store.findApiKeyByHash('f'.repeat(64))).toBeUndefined();
      expect(await store.listApiKeys('alpha')).toEqual([first, second]);
      expect(await store.deleteApiKey('alpha', first.id)).toBe(true);
      expect(await store.findApiKeyByHash(first.hash)).toBeUndefined();
      expect(await store.listApiKeys('alpha')).toEqual([second]);
      expect(await store.deleteApiKey('alpha', first.id)).toBe(false);
    });

    it('store - a key needs its tenant, and cannot be deleted through another tenant', async () => {
      await rejectsWith(store.addApiKey(key('ghost')), 'not_found');
      await store.createTenant(tenant('alpha'));
      await store.createTenant(tenant('beta'));
      const k = key('alpha');
      await store.addApiKey(k);
      await rejectsWith(store.addApiKey({ ...key('alpha'), hash: k.hash }), 'conflict');
      expect(await store.deleteApiKey('beta', k.id)).toBe(false);
      expect(await store.findApiKeyByHash(k.hash)).toEqual(k);
      expect(await store.listApiKeys('beta')).toEqual([]);
    });

    it('store - deleting a tenant deletes its keys and revocations', async () => {
      await store.createTenant(tenant('alpha'));
      await store.createTenant(tenant('beta'));
      const a = key('alpha');
      const b = key('beta');
      await store.addApiKey(a);
      await store.addApiKey(b);
      await store.revokeUser('alpha', 'alice', 100, 3600);
      expect(await store.deleteTenant('alpha')).toBe(true);
      expect(await store.deleteTenant('alpha')).toBe(false);
      expect(await store.getTenant('alpha')).toBeUndefined();
      expect(await store.findApiKeyByHash(a.hash)).toBeUndefined();
      expect(await store.listApiKeys('alpha')).toEqual([]);
      expect(await store.getUserRevocation('alpha', 'alice')).toBeUndefined();
      expect(await store.findApiKeyByHash(b.hash)).toEqual(b);
      expect((await store.listTenants()).map((t) => t.ns)).toEqual(['beta']);
    });

    it('store - user revocations keep the latest time, per namespace and user', async () => {
      await store.createTenant(tenant('alpha'));
      expect(await store.getUserRevocation('alpha', 'alice')).toBeUndefined();
      await store.revokeUser('alpha', 'alice', 200, 3600);
      await store.revokeUser('alpha', 'alice', 150, 3600);
      await store.revokeUser('alpha', 'a.b@x.com', 300, 3600);
      expect(await store.getUserRevocation('alpha', 'alice')).toBe(200);
      expect(await store.getUserRevocation('alpha', 'a.b@x.com')).toBe(300);
      expect(await store.getUserRevocation('beta', 'alice')).toBeUndefined();
      await store.revokeUser('alpha', 'alice', 250, 3600);
      expect(await store.getUserRevocation('alpha', 'alice')).toBe(250);
    });

    it("store - a tenant's live revocations are bounded per tenant, never touching another tenant's", async () => {
      await store.createTenant(tenant('alpha'));
      await store.createTenant(tenant('beta'));
      await store.revokeUser('beta', 'victim', 100, 3600, 3);
      for (const u of ['a', 'b', 'c']) await store.revokeUser('alpha', u, 100, 3600, 3);
      const refused = await store.revokeUser('alpha', 'd', 100, 3600, 3).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ParleyError);
      expect((refused as ParleyError).code).toBe('too_many_revocations');
      await store.revokeUser('alpha', 'a', 200, 3600, 3);
      expect(await store.getUserRevocation('alpha', 'a')).toBe(200);
      expect(await store.getUserRevocation('alpha', 'd')).toBeUndefined();
      expect(await store.getUserRevocation('beta', 'victim')).toBe(100);
      await store.revokeUser('beta', 'other', 100, 3600, 3);
      expect(await store.getUserRevocation('beta', 'other')).toBe(100);
    });

    it('store - expired revocations do not count toward the bound', async () => {
      await store.createTenant(tenant('alpha'));
      await store.revokeUser('alpha', 'old', 100, 0, 1);
      await store.revokeUser('alpha', 'new', 100, 3600, 1);
      expect(await store.getUserRevocation('alpha', 'new')).toBe(100);
    });

    it('store - a revocation whose retention has passed is forgotten', async () => {
      await store.createTenant(tenant('alpha'));
      await store.revokeUser('alpha', 'alice', 200, 0);
      expect(await store.getUserRevocation('alpha', 'alice')).toBeUndefined();
    });

    it('store - everything written is there after a reopen', async () => {
      await store.createTenant(tenant('alpha'));
      const k = key('alpha');
      await store.addApiKey(k);
      await store.revokeUser('alpha', 'alice', 200, 3600);
      const again = await harness.reopen(store);
      expect(await again.getTenant('alpha')).toEqual(tenant('alpha'));
      expect(await again.findApiKeyByHash(k.hash)).toEqual(k);
      expect(await again.getUserRevocation('alpha', 'alice')).toBe(200);
      await again.ping();
    });

    it('store - concurrent writes all land', async () => {
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.createTenant(tenant(`t${i}`))));
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.addApiKey(key(`t${i}`))));
      expect(await store.listTenants()).toHaveLength(20);
      const again = await harness.reopen(store);
      expect(await again.listTenants()).toHaveLength(20);
      for (let i = 0; i < 20; i++) expect(await again.listApiKeys(`t${i}`)).toHaveLength(1);
    });
  });
}

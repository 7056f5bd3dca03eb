import { emptyState, stateOps } from './tenant-state.ts';
import type { TenantStore } from './tenant-store.ts';

/**
 * In-memory tenant store: for tests and throwaway processes. Everything is lost when the process
 * ends and nothing is shared between processes; use the file store (single process) or the
 * Redis store (several auth replicas) for anything that must last.
 */
export function createMemoryTenantStore(options: { now?: () => number } = {}): TenantStore {
  const now = options.now ?? Date.now;
  const nowSeconds = () => Math.floor(now() / 1000);
  const state = emptyState();
  return {
    async createTenant(tenant) {
      stateOps.createTenant(state, tenant);
    },
    async getTenant(ns) {
      return stateOps.getTenant(state, ns);
    },
    async listTenants() {
      return stateOps.listTenants(state);
    },
    async replaceTenant(tenant) {
      return stateOps.replaceTenant(state, tenant);
    },
    async deleteTenant(ns) {
      return stateOps.deleteTenant(state, ns);
    },
    async addApiKey(record) {
      stateOps.addApiKey(state, record);
    },
    async findApiKeyByHash(hash) {
      return stateOps.findApiKeyByHash(state, hash);
    },
    async listApiKeys(ns) {
      return stateOps.listApiKeys(state, ns);
    },
    async deleteApiKey(ns, id) {
      return stateOps.deleteApiKey(state, ns, id);
    },
    async revokeUser(ns, user, before, retainSeconds, maxPerTenant) {
      stateOps.revokeUser(state, ns, user, before, retainSeconds, nowSeconds(), maxPerTenant);
    },
    async getUserRevocation(ns, user) {
      return stateOps.getUserRevocation(state, ns, user, nowSeconds());
    },
    async ping() {},
    async close() {},
  };
}

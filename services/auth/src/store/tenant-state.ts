import { ParleyError } from '@parley/protocol';
import type { ApiKeyRecord, Tenant } from './tenant-store.ts';

/**
 * The whole content of an in-process tenant store as one JSON-serializable value, with the
 * operations both the memory and the file store apply to it. Operations mutate `state` in place
 * and return what the port method returns.
 */
export interface TenantState {
  version: 1;
  tenants: Record<string, Tenant>;
  /** By key hash: the lookup on every authenticated request. */
  keys: Record<string, ApiKeyRecord>;
  /** By namespace, then user; times in unix seconds. */
  revocations: Record<string, Record<string, Revocation>>;
}

export interface Revocation {
  before: number;
  expiresAt: number;
}

export function emptyState(): TenantState {
  return { version: 1, tenants: {}, keys: {}, revocations: {} };
}

export const stateOps = {
  createTenant(state: TenantState, tenant: Tenant): void {
    if (Object.hasOwn(state.tenants, tenant.ns)) throw new ParleyError('conflict', `tenant ${tenant.ns} already exists`);
    state.tenants[tenant.ns] = structuredClone(tenant);
  },
  getTenant(state: TenantState, ns: string): Tenant | undefined {
    const tenant = Object.hasOwn(state.tenants, ns) ? state.tenants[ns] : undefined;
    return tenant && structuredClone(tenant);
  },
  listTenants(state: TenantState): Tenant[] {
    return Object.values(state.tenants)
      .sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0))
      .map((t) => structuredClone(t));
  },
  replaceTenant(state: TenantState, tenant: Tenant): boolean {
    if (!Object.hasOwn(state.tenants, tenant.ns)) return false;
    state.tenants[tenant.ns] = structuredClone(tenant);
    return true;
  },
  deleteTenant(state: TenantState, ns: string): boolean {
    if (!Object.hasOwn(state.tenants, ns)) return false;
    delete state.tenants[ns];
    for (const [hash, key] of Object.entries(state.keys)) if (key.ns === ns) delete state.keys[hash];
    delete state.revocations[ns];
    return true;
  },
  addApiKey(state: TenantState, record: ApiKeyRecord): void {
    if (!Object.hasOwn(state.tenants, record.ns)) throw new ParleyError('not_found', `tenant ${record.ns} does not exist`);
    if (Object.hasOwn(state.keys, record.hash) || Object.values(state.keys).some((k) => k.id === record.id)) {
      throw new ParleyError('conflict', 'an API key with this id or hash already exists');
    }
    state.keys[record.hash] = { ...record };
  },
  findApiKeyByHash(state: TenantState, hash: string): ApiKeyRecord | undefined {
    const found = Object.hasOwn(state.keys, hash) ? state.keys[hash] : undefined;
    return found && { ...found };
  },
  listApiKeys(state: TenantState, ns: string): ApiKeyRecord[] {
    return Object.values(state.keys)
      .filter((k) => k.ns === ns)
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1))
      .map((k) => ({ ...k }));
  },
  deleteApiKey(state: TenantState, ns: string, id: string): boolean {
    const key = Object.values(state.keys).find((k) => k.id === id && k.ns === ns);
    if (!key) return false;
    delete state.keys[key.hash];
    return true;
  },
  /**
   * Refuses with `too_many_revocations` a new user beyond `maxPerTenant` live revocations of the
   * tenant (a user already revoked is updated whatever the count).
   */
  revokeUser(state: TenantState, ns: string, user: string, before: number, retainSeconds: number, nowSeconds: number, maxPerTenant = Infinity): void {
    const tenant = Object.hasOwn(state.revocations, ns) ? state.revocations[ns]! : (state.revocations[ns] = Object.create(null) as Record<string, Revocation>);
    const current = Object.hasOwn(tenant, user) ? tenant[user] : undefined;
    if (!current && Object.keys(tenant).length >= maxPerTenant) {
      for (const [u, v] of Object.entries(tenant)) if (v.expiresAt <= nowSeconds) delete tenant[u];
      if (Object.keys(tenant).length >= maxPerTenant) throw tooManyRevocations(maxPerTenant);
    }
    const expiresAt = nowSeconds + retainSeconds;
    tenant[user] = {
      before: Math.max(before, current?.before ?? before),
      expiresAt: Math.max(expiresAt, current?.expiresAt ?? expiresAt),
    };
  },
  getUserRevocation(state: TenantState, ns: string, user: string, nowSeconds: number): number | undefined {
    const tenant = Object.hasOwn(state.revocations, ns) ? state.revocations[ns]! : undefined;
    const entry = tenant && Object.hasOwn(tenant, user) ? tenant[user] : undefined;
    return entry && entry.expiresAt > nowSeconds ? entry.before : undefined;
  },
  /** Forgets revocations whose retention has passed. */
  prune(state: TenantState, nowSeconds: number): void {
    for (const [ns, tenant] of Object.entries(state.revocations)) {
      for (const [user, v] of Object.entries(tenant)) if (v.expiresAt <= nowSeconds) delete tenant[user];
      if (Object.keys(tenant).length === 0) delete state.revocations[ns];
    }
  },
};

export function tooManyRevocations(maxPerTenant: number): ParleyError {
  return new ParleyError(
    'too_many_revocations',
    `the tenant has ${maxPerTenant} live user revocations (PARLEY_MAX_REVOCATIONS_PER_TENANT); each is kept until the tokens it covers have expired`,
  );
}

/** Reads the revocations of a store file written before they were kept per tenant (keys `["ns","user"]`). */
export function revocationsFromFile(value: unknown): TenantState['revocations'] {
  const result: TenantState['revocations'] = {};
  if (typeof value !== 'object' || value === null) return result;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k.startsWith('[')) {
      const [ns, user] = JSON.parse(k) as [string, string];
      (result[ns] ??= {})[user] = v as Revocation;
    } else result[k] = v as Record<string, Revocation>;
  }
  return result;
}

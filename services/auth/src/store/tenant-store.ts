import type { TenantSettings } from '../settings.ts';

/** A tenant: a namespace and its settings. Times are ISO-8601 strings (UTC). */
export interface Tenant {
  ns: string;
  settings: TenantSettings;
  createdAt: string;
  updatedAt: string;
}

/**
 * An API key as stored: never the key itself, only the SHA-256 of it (hex) and a short display
 * prefix. Revoking a key deletes its record, so a lookup by hash fails at once.
 */
export interface ApiKeyRecord {
  id: string;
  ns: string;
  /** SHA-256 of the whole key string, lower-case hex. */
  hash: string;
  /** `pk_<ns>_` plus the first characters of the random part: enough to tell keys apart. */
  prefix: string;
  createdAt: string;
}

/**
 * The tenant / API key / revocation store port. Every implementation passes
 * `test/store-contract.ts`. Writes are durable when the returned promise resolves (file: renamed
 * into place; Redis: acknowledged by the server). Implementations reject with a ParleyError:
 * `conflict` (already exists), `not_found` (the tenant a key belongs to is missing), or
 * `unavailable` (the backing store cannot be reached; the caller may retry).
 */
export interface TenantStore {
  /** Adds a tenant; rejects with `conflict` when the namespace exists. */
  createTenant(tenant: Tenant): Promise<void>;
  getTenant(ns: string): Promise<Tenant | undefined>;
  /** Every tenant, sorted by namespace. */
  listTenants(): Promise<Tenant[]>;
  /**
   * Replaces an existing tenant's record (last writer wins); resolves false when the tenant does
   * not exist (never creates it).
   */
  replaceTenant(tenant: Tenant): Promise<boolean>;
  /** Deletes a tenant with its API keys and revocations; resolves false when it did not exist. */
  deleteTenant(ns: string): Promise<boolean>;

  /** Adds a key; rejects with `not_found` when the tenant is missing, `conflict` on a duplicate hash or id. */
  addApiKey(record: ApiKeyRecord): Promise<void>;
  /** The key record with this hash, or undefined when there is none (unknown or revoked). */
  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  /** A tenant's keys, oldest first. */
  listApiKeys(ns: string): Promise<ApiKeyRecord[]>;
  /** Deletes (revokes) a key; resolves false when the tenant has no key with this id. */
  deleteApiKey(ns: string, id: string): Promise<boolean>;

  /**
   * Records that every token of `user` issued at or before `before` (unix seconds) is revoked.
   * Keeps the latest `before` when called again. The record may be forgotten after
   * `retainSeconds` (tokens issued before it have expired by then). Rejects with
   * `too_many_revocations` when the tenant already has `maxPerTenant` live revocations and `user`
   * is not one of them (other tenants are not affected).
   */
  revokeUser(ns: string, user: string, before: number, retainSeconds: number, maxPerTenant?: number): Promise<void>;
  /** The latest revocation time of `user`, or undefined. */
  getUserRevocation(ns: string, user: string): Promise<number | undefined>;

  /** Resolves when the store can serve requests; rejects with `unavailable` otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

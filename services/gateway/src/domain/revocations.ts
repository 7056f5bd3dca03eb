import type { VerifiedToken } from './token-verifier.ts';

/**
 * @default 10000: revoked users (and, separately, revoked token ids) remembered per tenant. The
 * auth service refuses a tenant's revocations beyond the same bound (`too_many_revocations`), so a
 * gateway configured alike never forgets one before its tokens expire; a gateway given a smaller
 * bound forgets the tenant's own oldest first, never another tenant's.
 */
export const DEFAULT_MAX_REVOCATIONS_PER_TENANT = 10_000;

interface TenantRevocations {
  /** User -> tokens issued at or before `before` are revoked until `until` (unix seconds), in arrival order. */
  users: Map<string, { before: number; until: number }>;
  /** Token id -> its expiry (unix seconds), in arrival order. */
  tokens: Map<string, number>;
}

/**
 * Revocations this gateway has heard on the control subject, kept per tenant: per user "issued at
 * or before", and single token ids. Entries are kept until the tokens they cover have expired;
 * one tenant's volume never evicts another tenant's entries.
 */
export function createRevocationList(maxPerTenant = DEFAULT_MAX_REVOCATIONS_PER_TENANT, onEvicted: (ns: string) => void = () => {}) {
  const byTenant = new Map<string, TenantRevocations>();
  const tenantOf = (ns: string) => {
    let found = byTenant.get(ns);
    if (!found) byTenant.set(ns, (found = { users: new Map(), tokens: new Map() }));
    return found;
  };
  /** Drops expired entries from the front (arrival order is close to expiry order), then the tenant's oldest past the bound. */
  const trim = <V>(ns: string, map: Map<string, V>, expiry: (value: V) => number, nowSeconds: number) => {
    for (const [key, value] of map) {
      if (expiry(value) >= nowSeconds) break;
      map.delete(key);
    }
    while (map.size > maxPerTenant) {
      map.delete(map.keys().next().value as string);
      onEvicted(ns);
    }
  };
  const forgetIfEmpty = (ns: string, tenant: TenantRevocations) => {
    if (tenant.users.size === 0 && tenant.tokens.size === 0) byTenant.delete(ns);
  };
  return {
    revokeUser(ns: string, user: string, before: number, maxTokenTtlSeconds: number, nowSeconds = Date.now() / 1000) {
      const tenant = tenantOf(ns);
      const current = tenant.users.get(user);
      tenant.users.delete(user);
      tenant.users.set(user, {
        before: Math.max(before, current?.before ?? before),
        until: Math.max(before + maxTokenTtlSeconds, current?.until ?? 0),
      });
      trim(ns, tenant.users, (v) => v.until, nowSeconds);
      forgetIfEmpty(ns, tenant);
    },
    revokeToken(ns: string, jti: string, exp: number, nowSeconds = Date.now() / 1000) {
      const tenant = tenantOf(ns);
      tenant.tokens.delete(jti);
      tenant.tokens.set(jti, exp);
      trim(ns, tenant.tokens, (v) => v, nowSeconds);
      forgetIfEmpty(ns, tenant);
    },
    isRevoked(token: VerifiedToken, nowSeconds = Date.now() / 1000): boolean {
      const { ns, sub, iat, jti } = token.claims;
      const tenant = byTenant.get(ns);
      if (!tenant) return false;
      const exp = tenant.tokens.get(jti);
      if (exp !== undefined) {
        if (exp > nowSeconds) return true;
        tenant.tokens.delete(jti);
      }
      const user = tenant.users.get(sub);
      if (user) {
        if (user.until < nowSeconds) tenant.users.delete(sub);
        else if (iat <= user.before) return true;
      }
      return false;
    },
    /** Remembered entries (users and token ids) of every tenant: the `parley_gateway_revocations` gauge. */
    size(): number {
      let total = 0;
      for (const t of byTenant.values()) total += t.users.size + t.tokens.size;
      return total;
    },
  };
}

export type RevocationList = ReturnType<typeof createRevocationList>;

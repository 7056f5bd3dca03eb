import type { VerifiedToken } from './token-verifier.ts';

/** @default 10000: remembered revocations per gateway; the oldest are forgotten first. */
export const DEFAULT_MAX_REVOCATIONS = 10_000;

/**
 * Revocations this gateway has heard on the control subject: per user "issued at or before",
 * and single token ids. Entries are kept until the tokens they cover have expired.
 */
export function createRevocationList(maxEntries = DEFAULT_MAX_REVOCATIONS) {
  const users = new Map<string, { before: number; until: number }>();
  const tokens = new Map<string, number>();
  const trim = (map: Map<string, unknown>) => {
    while (map.size > maxEntries) map.delete(map.keys().next().value as string);
  };
  return {
    revokeUser(ns: string, user: string, before: number, maxTokenTtlSeconds: number) {
      users.set(`${ns}\u0000${user}`, { before, until: before + maxTokenTtlSeconds });
      trim(users);
    },
    revokeToken(jti: string, exp: number) {
      tokens.set(jti, exp);
      trim(tokens);
    },
    isRevoked(token: VerifiedToken, nowSeconds = Date.now() / 1000): boolean {
      const { ns, sub, iat, jti } = token.claims;
      const exp = tokens.get(jti);
      if (exp !== undefined) {
        if (exp > nowSeconds) return true;
        tokens.delete(jti);
      }
      const user = users.get(`${ns}\u0000${sub}`);
      if (user) {
        if (user.until < nowSeconds) users.delete(`${ns}\u0000${sub}`);
        else if (iat <= user.before) return true;
      }
      return false;
    },
  };
}

export type RevocationList = ReturnType<typeof createRevocationList>;

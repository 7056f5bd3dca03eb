import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';

/** @default 10 min: how long a fetched key set is trusted before it is fetched again. */
export const DEFAULT_JWKS_MAX_AGE_MS = 600_000;
/** @default 30 s: an unknown `kid` refetches the key set at most this often, so bogus kids cannot hammer auth. */
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000;

/** The auth service's key set over HTTP, cached; gateways verify tokens without calling auth per connection. */
export function createJwksKeyGetter(url: string, options: { maxAgeMs?: number; cooldownMs?: number } = {}): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(url), {
    cacheMaxAge: options.maxAgeMs ?? DEFAULT_JWKS_MAX_AGE_MS,
    cooldownDuration: options.cooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS,
  });
}

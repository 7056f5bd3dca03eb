import { createHash } from 'node:crypto';
import type { JWTVerifyGetKey } from 'jose';
import { ParleyError, compileGrants, isNamespace, type CompiledGrants } from '@parley/protocol';
import { createJwksKeyGetter, verifyUserToken } from '@parley/tokens';

/**
 * A tenant API key's namespace, or `null` when the key is not valid. Throws when it cannot tell.
 * `clientIp` is the address of the client presenting the key: failed attempts are limited per
 * client, so one client's guesses never lock out another.
 */
export type ApiKeyVerifier = (apiKey: string, clientIp: string) => Promise<{ ns: string } | null>;

/** A verified user token. Throws ParleyError `token_invalid` / `token_expired`. */
export type UserTokenVerifier = (token: string) => Promise<{ ns: string; user: string; grants: CompiledGrants }>;

/** @default 30 s: a valid key is trusted this long without asking auth again. */
export const DEFAULT_KEY_CACHE_POSITIVE_MS = 30_000;
/** @default 5 s: an invalid key is refused this long without asking auth again. */
export const DEFAULT_KEY_CACHE_NEGATIVE_MS = 5_000;
/** @default 10000: cached keys; the oldest go first. */
export const DEFAULT_KEY_CACHE_MAX_ENTRIES = 10_000;
/** @default 2000 */
export const DEFAULT_AUTH_TIMEOUT_MS = 2000;

export interface AuthServiceKeyVerifierOptions {
  positiveTtlMs?: number;
  negativeTtlMs?: number;
  maxEntries?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

/**
 * Verifies API keys with the auth service (`GET {authUrl}/v1/whoami`, the key as bearer token,
 * the client's address as `X-Forwarded-For`: auth believes it when this service's address is in
 * its `PARLEY_AUTH_TRUSTED_PROXIES`, and limits failed attempts per real client).
 * Answers are cached by the key's SHA-256 (the key itself is never kept): valid keys ~30 s,
 * invalid ones ~5 s, so a revoked key stops working within the positive ttl. Concurrent checks
 * of one key share one request. Auth unreachable or failing: ParleyError `unavailable` (503);
 * auth rate-limiting us: `rate_limited`.
 */
export function createAuthServiceKeyVerifier(authUrl: string, options: AuthServiceKeyVerifierOptions = {}): ApiKeyVerifier {
  const whoami = new URL('/v1/whoami', authUrl).toString();
  const positive = options.positiveTtlMs ?? DEFAULT_KEY_CACHE_POSITIVE_MS;
  const negative = options.negativeTtlMs ?? DEFAULT_KEY_CACHE_NEGATIVE_MS;
  const maxEntries = options.maxEntries ?? DEFAULT_KEY_CACHE_MAX_ENTRIES;
  const timeoutMs = options.timeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS;
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { ns: string | null; until: number }>();
  const inflight = new Map<string, Promise<{ ns: string } | null>>();

  const ask = async (apiKey: string, clientIp: string): Promise<string | null> => {
    let response: Response;
    try {
      response = await doFetch(whoami, {
        headers: { authorization: `Bearer ${apiKey}`, accept: 'application/json', 'x-forwarded-for': clientIp },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new ParleyError('unavailable', 'the auth service is unreachable; retry shortly', { cause: error });
    }
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      return null;
    }
    if (response.status === 429) {
      await response.body?.cancel();
      throw new ParleyError('rate_limited', 'too many failed credential attempts from this address; retry later');
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new ParleyError('unavailable', `the auth service answered ${response.status}; retry shortly`);
    }
    const body = (await response.json().catch(() => undefined)) as { ns?: unknown } | undefined;
    if (!isNamespace(body?.ns)) throw new ParleyError('unavailable', 'the auth service answered without a valid namespace');
    return body.ns;
  };

  return async (apiKey, clientIp) => {
    const hash = createHash('sha256').update(apiKey, 'utf8').digest('hex');
    const hit = cache.get(hash);
    if (hit && hit.until > now()) return hit.ns === null ? null : { ns: hit.ns };
    const pending = inflight.get(hash);
    if (pending) return pending;
    const request = ask(apiKey, clientIp)
      .then((ns) => {
        cache.delete(hash);
        if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
        cache.set(hash, { ns, until: now() + (ns === null ? negative : positive) });
        return ns === null ? null : { ns };
      })
      .finally(() => inflight.delete(hash));
    inflight.set(hash, request);
    return request;
  };
}

/** Verifies user tokens locally against the auth service's key set (see `verifyUserToken`). */
export function createUserTokenVerifier(getKey: JWTVerifyGetKey, options: { clockToleranceSeconds?: number } = {}): UserTokenVerifier {
  return async (token) => {
    const { claims } = await verifyUserToken(token, getKey, options);
    return { ns: claims.ns, user: claims.sub, grants: compileGrants(claims.grants) };
  };
}

/** A user token verifier on the auth service's JWKS (`PARLEY_JWKS_URL`), fetched and cached by jose. */
export function createJwksUserTokenVerifier(jwksUrl: string): UserTokenVerifier {
  return createUserTokenVerifier(createJwksKeyGetter(jwksUrl));
}

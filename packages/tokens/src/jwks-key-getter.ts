import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { ParleyError } from '@parley/protocol';

/** @default 10 min: a key set older than this is refetched (in the background while it still verifies). */
export const DEFAULT_JWKS_MAX_AGE_MS = 600_000;
/** @default 30 s: an unknown `kid` refetches the key set at most this often, so bogus kids cannot hammer auth. */
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000;
/** @default 2 s: after a failed fetch, the next one waits this long (however many tokens arrive). */
export const DEFAULT_JWKS_RETRY_MS = 2_000;
/** @default 5 s: one fetch of the key set. */
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;

export interface JwksKeyGetterOptions {
  maxAgeMs?: number;
  cooldownMs?: number;
  retryMs?: number;
  timeoutMs?: number;
  /** A key set to start from (`PARLEY_JWKS_FILE`), used until one is fetched; it counts as already stale. */
  initial?: JSONWebKeySet;
  logger?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

export interface KeySetHealth {
  ok: boolean;
  reason?: string;
}

/** A key getter for `jwtVerify` that also says whether it can verify at all. */
export interface JwksKeyGetter extends JWTVerifyGetKey {
  /** Not ok while no key set has ever been held (auth unreachable since start, no `initial`). */
  health(): KeySetHealth;
  /** Fetches now (single flight); false when auth did not answer with a key set. */
  refresh(): Promise<boolean>;
  /** Seconds since the held key set was fetched; undefined when none was fetched. */
  ageSeconds(): number | undefined;
  /** Fetches that failed since the start. */
  failures(): number;
}

interface Held {
  local: ReturnType<typeof createLocalJWKSet>;
  fetchedAt: number;
}

export const isKeySet = (value: unknown): value is JSONWebKeySet =>
  typeof value === 'object' && value !== null && Array.isArray((value as { keys?: unknown }).keys) && (value as { keys: unknown[] }).keys.length > 0;

/**
 * The auth service's key set over HTTP, cached; gateways verify tokens without calling auth per
 * connection. Built to survive an auth outage:
 *  - a key set past `maxAgeMs` keeps verifying while a refetch runs in the background, and keeps
 *    verifying for as long as auth is unreachable (a key removed from the set stops verifying at
 *    the first successful refetch);
 *  - with no key set at all (auth down since start, no `initial` set), or for an unknown `kid`
 *    whose refetch fails, verification throws `auth_unavailable` (temporary), never
 *    `token_invalid`: the token may be fine, the keys to check it are missing;
 *  - fetches are single flight and spaced by `retryMs` after a failure.
 */
export function createJwksKeyGetter(url: string, options: JwksKeyGetterOptions = {}): JwksKeyGetter {
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_JWKS_MAX_AGE_MS;
  const cooldownMs = options.cooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS;
  const retryMs = options.retryMs ?? DEFAULT_JWKS_RETRY_MS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS;
  let held: Held | undefined = options.initial ? { local: createLocalJWKSet(options.initial), fetchedAt: Number.NEGATIVE_INFINITY } : undefined;
  let fetched = false;
  let inflight: Promise<boolean> | undefined;
  let lastAttempt = Number.NEGATIVE_INFINITY;
  let lastFailure = Number.NEGATIVE_INFINITY;
  let failures = 0;
  let outage = false;

  const fetchKeys = async (): Promise<boolean> => {
    lastAttempt = Date.now();
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body: unknown = await response.json();
      if (!isKeySet(body)) throw new Error('the answer is not a key set with keys');
      held = { local: createLocalJWKSet(body), fetchedAt: Date.now() };
      fetched = true;
      if (outage) options.logger?.info({ url }, 'token key set fetched again');
      outage = false;
      return true;
    } catch (error) {
      failures++;
      lastFailure = Date.now();
      if (!outage) options.logger?.warn({ err: error, url, holding: held !== undefined }, 'token key set cannot be fetched; verifying with the last good one meanwhile (if any)');
      outage = true;
      return false;
    }
  };
  const refresh = (): Promise<boolean> => (inflight ??= fetchKeys().finally(() => (inflight = undefined)));
  const mayFetch = () => inflight !== undefined || Date.now() - lastFailure >= retryMs;
  const unavailable = (cause?: unknown) =>
    new ParleyError('auth_unavailable', "the keys to verify tokens cannot be fetched from the auth service; retry shortly", { cause });

  const getKey = (async (header, token) => {
    if (!held) {
      if (!mayFetch() || !(await refresh()) || !held) throw unavailable();
    } else if (Date.now() - held.fetchedAt > maxAgeMs && mayFetch()) {
      void refresh();
    }
    const current = held as Held;
    try {
      return await current.local(header, token);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey) || Date.now() - lastAttempt < cooldownMs) throw error;
      // Perhaps a key published after our fetch: look once more (at most once per cooldown).
      if (!(await refresh())) throw unavailable(error);
      return (held as Held).local(header, token);
    }
  }) as JwksKeyGetter;
  getKey.health = () => {
    if (held) return { ok: true };
    if (mayFetch()) void refresh();
    return { ok: false, reason: 'no token key set: the auth service has not answered yet' };
  };
  getKey.refresh = refresh;
  getKey.ageSeconds = () => (fetched && held ? (Date.now() - held.fetchedAt) / 1000 : undefined);
  getKey.failures = () => failures;
  return getKey;
}

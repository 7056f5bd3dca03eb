import type { Context, MiddlewareHandler } from 'hono';
import { ParleyError } from '@parley/protocol';
import { apiKeyHint, bearerCredential, hashApiKey, secretsEqual } from '../api-keys.ts';
import { RetryLaterError, type AuthEnv, type RouteDeps } from './route-context.ts';

/**
 * Refuses a client that has used up its failed-attempt allowance, before any credential is
 * looked at (a different answer for a right guess would defeat the limit).
 */
function checkAllowance(deps: RouteDeps, c: Context, ip: string, kind: 'api_key' | 'admin_token'): void {
  const retryAfter = deps.limiter.retryAfterSeconds(ip);
  if (retryAfter === 0) return;
  if (kind === 'api_key') deps.metrics.apiKeyFailures.inc();
  deps.logger.debug({ ip, kind, path: c.req.path }, 'credential attempt refused: rate limited');
  throw new RetryLaterError('rate_limited', 'too many failed credential attempts from this address; retry later', retryAfter);
}

/**
 * `Authorization: Bearer <API key>`: finds the key by its hash and sets `ns`, `keyId` and
 * `tenant` for the route. The namespace of everything the request does comes from here, never
 * from the request body or path. Failures are counted per client IP, logged with a non-secret
 * hint only (`pk_<ns>_`), and answered with `unauthorized`.
 */
export function requireApiKey(deps: RouteDeps): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const ip = deps.getClientIp(c);
    checkAllowance(deps, c, ip, 'api_key');
    const key = bearerCredential(c.req.header('authorization'));
    if (!key) throw new ParleyError('unauthorized', 'send the API key as "Authorization: Bearer <key>"');
    const record = await deps.store.findApiKeyByHash(hashApiKey(key));
    const tenant = record && (await deps.store.getTenant(record.ns));
    if (!record || !tenant) {
      deps.limiter.recordFailure(ip);
      deps.metrics.apiKeyFailures.inc();
      deps.logger.warn({ ip, keyHint: apiKeyHint(key), path: c.req.path }, 'API key rejected: unknown or revoked');
      throw new ParleyError('unauthorized', 'the API key is not valid (unknown or revoked)');
    }
    c.set('ns', record.ns);
    c.set('keyId', record.id);
    c.set('tenant', tenant);
    await next();
  };
}

/**
 * `Authorization: Bearer <admin token>` against `PARLEY_ADMIN_TOKEN`, compared in constant
 * time. Without a configured admin token the admin API refuses every request.
 */
export function requireAdmin(deps: RouteDeps): MiddlewareHandler {
  return async (c, next) => {
    const ip = deps.getClientIp(c);
    checkAllowance(deps, c, ip, 'admin_token');
    if (deps.adminToken === undefined) throw new ParleyError('unauthorized', 'the admin API is disabled: PARLEY_ADMIN_TOKEN is not set');
    const token = bearerCredential(c.req.header('authorization'));
    if (!token || !secretsEqual(token, deps.adminToken)) {
      if (token) deps.limiter.recordFailure(ip);
      deps.logger.warn({ ip, path: c.req.path, method: c.req.method }, 'admin request rejected: bad admin token');
      throw new ParleyError('unauthorized', 'missing or invalid admin token');
    }
    await next();
  };
}

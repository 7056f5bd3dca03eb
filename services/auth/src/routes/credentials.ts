import type { Context, MiddlewareHandler } from 'hono';
import { ParleyError } from '@parley/protocol';
import { apiKeyHint, bearerCredential, hashApiKey, secretsEqual } from '../api-keys.ts';
import type { ApiKeyRecord, Tenant } from '../store/tenant-store.ts';
import { RetryLaterError, type AuthEnv, type RouteDeps } from './route-context.ts';

/**
 * Starts a credential attempt of the client before any credential is looked at, or refuses a
 * client that has used up its failed-attempt allowance or has too many attempts in flight (a
 * different answer for a right guess would defeat the limit). The caller ends it once with
 * `deps.limiter.end(ip, failed)`.
 */
function beginAttempt(deps: RouteDeps, c: Context, ip: string, kind: 'api_key' | 'admin_token'): void {
  const retryAfter = deps.limiter.begin(ip);
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
    beginAttempt(deps, c, ip, 'api_key');
    const key = bearerCredential(c.req.header('authorization'));
    if (!key) {
      deps.limiter.end(ip, false);
      throw new ParleyError('unauthorized', 'send the API key as "Authorization: Bearer <key>"');
    }
    const found = await findKeyAndTenant(deps, key).catch((error: unknown) => {
      deps.limiter.end(ip, false); // the store failed, not the credential
      throw error;
    });
    if (!found) {
      deps.limiter.end(ip, true);
      deps.metrics.apiKeyFailures.inc();
      deps.logger.warn({ ip, keyHint: apiKeyHint(key), path: c.req.path }, 'API key rejected: unknown or revoked');
      throw new ParleyError('unauthorized', 'the API key is not valid (unknown or revoked)');
    }
    deps.limiter.end(ip, false);
    c.set('ns', found.record.ns);
    c.set('keyId', found.record.id);
    c.set('tenant', found.tenant);
    await next();
  };
}

async function findKeyAndTenant(deps: RouteDeps, key: string): Promise<{ record: ApiKeyRecord; tenant: Tenant } | undefined> {
  const record = await deps.store.findApiKeyByHash(hashApiKey(key));
  const tenant = record && (await deps.store.getTenant(record.ns));
  return record && tenant ? { record, tenant } : undefined;
}

/**
 * `Authorization: Bearer <admin token>` against `PARLEY_ADMIN_TOKEN`, compared in constant
 * time. Without a configured admin token the admin API refuses every request.
 */
export function requireAdmin(deps: RouteDeps): MiddlewareHandler {
  return async (c, next) => {
    const ip = deps.getClientIp(c);
    beginAttempt(deps, c, ip, 'admin_token');
    const token = bearerCredential(c.req.header('authorization'));
    if (deps.adminToken === undefined) {
      deps.limiter.end(ip, false);
      throw new ParleyError('unauthorized', 'the admin API is disabled: PARLEY_ADMIN_TOKEN is not set');
    }
    if (!token || !secretsEqual(token, deps.adminToken)) {
      deps.limiter.end(ip, token !== undefined); // no token: no credential was tried
      deps.logger.warn({ ip, path: c.req.path, method: c.req.method }, 'admin request rejected: bad admin token');
      throw new ParleyError('unauthorized', 'missing or invalid admin token');
    }
    deps.limiter.end(ip, false);
    await next();
  };
}

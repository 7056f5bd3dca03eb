import type { Context, MiddlewareHandler } from 'hono';
import { ParleyError, type CompiledGrants } from '@parley/protocol';
import type { FailureLimiter } from '@parley/tokens';
import type { ApiKeyVerifier, UserTokenVerifier } from './credentials.ts';

/** Who is asking. The namespace of every query comes from here, never from the request. */
export type Principal = { kind: 'tenant'; ns: string } | { kind: 'user'; ns: string; user: string; grants: CompiledGrants };

export type PresenceEnv = { Variables: { principal: Principal } };

/** Tenant API keys look like `pk_<ns>_<random>`; anything with three dot-separated parts is taken for a JWT. */
const API_KEY_PREFIX = 'pk_';

function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  return /^Bearer[ ]+(\S{1,4096})\s*$/i.exec(header)?.[1];
}

export interface Authenticators {
  verifyApiKey: ApiKeyVerifier;
  verifyUserToken: UserTokenVerifier;
  /** The real client address (forwarded addresses only from trusted proxies). */
  getClientIp: (c: Context) => string;
  /** Failed user tokens per client address; API-key failures are limited by auth itself. */
  limiter: FailureLimiter;
  /** A user token was refused, or refused unchecked because its client is rate limited. */
  onUserTokenFailure: () => void;
}

/** Errors that mean the client presented a bad token (as opposed to us failing to check it). */
const TOKEN_FAILURES = new Set(['token_invalid', 'token_expired', 'unauthorized']);

/**
 * `Authorization: Bearer <tenant API key>` (checked with the auth service, which limits failed
 * keys per client) or `Authorization: Bearer <user token>` (verified locally against the JWKS,
 * failures limited per client here: a signature check is the most expensive thing a client can
 * ask of this service); sets `principal`. What a user token may see is decided per route from
 * its `presence` grants.
 */
export function authenticate(auth: Authenticators): MiddlewareHandler<PresenceEnv> {
  return async (c, next) => {
    const credential = bearer(c.req.header('authorization'));
    if (!credential) throw new ParleyError('unauthorized', 'send a tenant API key or a user token as "Authorization: Bearer <credential>"');
    if (credential.startsWith(API_KEY_PREFIX)) {
      const tenant = await auth.verifyApiKey(credential, auth.getClientIp(c));
      if (!tenant) throw new ParleyError('unauthorized', 'the API key is not valid (unknown or revoked)');
      c.set('principal', { kind: 'tenant', ns: tenant.ns });
    } else if (credential.split('.').length === 3) {
      const ip = auth.getClientIp(c);
      const retryAfter = auth.limiter.begin(ip);
      if (retryAfter > 0) {
        auth.onUserTokenFailure();
        c.header('Retry-After', String(retryAfter));
        throw new ParleyError('rate_limited', 'too many failed credential attempts from this address; retry later');
      }
      const token = await auth.verifyUserToken(credential).catch((error: unknown) => {
        // A token we could not check (the key set is unavailable) is not the client's failure.
        const failed = error instanceof ParleyError && TOKEN_FAILURES.has(error.code);
        auth.limiter.end(ip, failed);
        if (failed) auth.onUserTokenFailure();
        throw error;
      });
      auth.limiter.end(ip, false);
      c.set('principal', { kind: 'user', ns: token.ns, user: token.user, grants: token.grants });
    } else {
      throw new ParleyError('unauthorized', 'the credential is neither an API key nor a user token');
    }
    await next();
  };
}

/** Throws `forbidden` unless the principal may see presence in `room`. */
export function requirePresenceGrant(principal: Principal, room: string): void {
  if (principal.kind === 'user' && !principal.grants.allows(room, 'presence')) {
    throw new ParleyError('forbidden', 'the token has no presence grant for this room');
  }
}

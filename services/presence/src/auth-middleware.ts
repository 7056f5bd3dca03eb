import type { Context, MiddlewareHandler } from 'hono';
import { ParleyError, type CompiledGrants } from '@parley/protocol';
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

/**
 * `Authorization: Bearer <tenant API key>` (checked with the auth service) or
 * `Authorization: Bearer <user token>` (verified locally against the JWKS); sets `principal`.
 * What a user token may see is decided per route from its `presence` grants.
 */
export function authenticate(verifyApiKey: ApiKeyVerifier, verifyUserToken: UserTokenVerifier, getClientIp: (c: Context) => string): MiddlewareHandler<PresenceEnv> {
  return async (c, next) => {
    const credential = bearer(c.req.header('authorization'));
    if (!credential) throw new ParleyError('unauthorized', 'send a tenant API key or a user token as "Authorization: Bearer <credential>"');
    if (credential.startsWith(API_KEY_PREFIX)) {
      const tenant = await verifyApiKey(credential, getClientIp(c));
      if (!tenant) throw new ParleyError('unauthorized', 'the API key is not valid (unknown or revoked)');
      c.set('principal', { kind: 'tenant', ns: tenant.ns });
    } else if (credential.split('.').length === 3) {
      const token = await verifyUserToken(credential);
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

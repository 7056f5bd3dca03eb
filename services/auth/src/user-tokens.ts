import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, type Grants, type UserInfo } from '@parley/protocol';
import type { SigningKeys } from './keys/signing-keys.ts';
import { showsModerators, tokenLimits, type TokenLimits } from './settings.ts';
import type { Tenant } from './store/tenant-store.ts';

export interface MintTokenInput {
  user: string;
  grants: Grants;
  info?: UserInfo;
  /** Requested lifetime; capped by the tenant's `maxTokenTtlSeconds`, which is also the default. */
  ttlSeconds?: number;
}

export interface MintedToken {
  token: string;
  /** `exp`, unix seconds. */
  expiresAt: number;
  jti: string;
  kid: string;
}

/** Claims Parley adds to the shared `userClaimsSchema` of @parley/protocol. */
export interface TenantClaims {
  /** Limits the gateway enforces for this connection and tenant. */
  lim: TokenLimits;
  /** Allowed browser Origins; empty means any. */
  origins: string[];
  /** Whether the tenant keeps room history. */
  hist: boolean;
  /** Present (true) when the tenant's clients may use WebSocket compression. */
  cmp?: true;
  /** Present (true) when the tenant hides moderators: the gateway leaves `by` and `reason` out of moderation events. */
  mhide?: true;
  /** History retention, when history is on (gateways size the tenant's stream from it). */
  hret?: { maxAgeSeconds: number; maxMessagesPerRoom: number; maxBytes: number };
}

/**
 * Signs a user token with the active key: header `alg` + `kid`; claims `sub, ns, grants, info?,
 * jti, iat, nbf, exp, iss, aud, lim, origins, hist, hret?, cmp?, mhide?`. The namespace is the tenant's, never the
 * caller's. When the user's tokens were revoked in this very second (`revokedBefore` ≥ now),
 * `iat` is set just after it so the new token is not caught by the revocation ("issued at or
 * before"); `nbf` stays now, so the token works at once.
 */
export async function mintUserToken(
  keys: SigningKeys,
  tenant: Tenant,
  input: MintTokenInput,
  options: { nowSeconds: number; revokedBefore?: number },
): Promise<MintedToken> {
  const { settings } = tenant;
  const ttl = Math.min(input.ttlSeconds ?? settings.maxTokenTtlSeconds, settings.maxTokenTtlSeconds);
  const now = options.nowSeconds;
  const iat = options.revokedBefore !== undefined && options.revokedBefore >= now ? options.revokedBefore + 1 : now;
  const exp = iat + ttl;
  const jti = randomBytes(16).toString('base64url');
  const claims: Record<string, unknown> & TenantClaims = {
    ns: tenant.ns,
    grants: input.grants,
    ...(input.info !== undefined && { info: input.info }),
    lim: tokenLimits(settings),
    origins: [...settings.allowedOrigins],
    hist: settings.history.enabled,
    ...(settings.compression && { cmp: true as const }),
    ...(!showsModerators(settings) && { mhide: true as const }),
    ...(settings.history.enabled && {
      hret: { maxAgeSeconds: settings.history.maxAgeSeconds, maxMessagesPerRoom: settings.history.maxMessagesPerRoom, maxBytes: settings.history.maxBytes },
    }),
  };
  const { active } = keys;
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: active.alg, kid: active.kid, typ: 'JWT' })
    .setSubject(input.user)
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setJti(jti)
    .setIssuedAt(iat)
    .setNotBefore(now)
    .setExpirationTime(exp)
    .sign(active.privateKey);
  return { token, expiresAt: exp, jti, kid: active.kid };
}

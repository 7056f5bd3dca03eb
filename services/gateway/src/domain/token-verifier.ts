import type { JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { ParleyError, compileGrants, type CompiledGrants, type UserInfo } from '@parley/protocol';
import { verifyUserToken } from '@parley/tokens';
import type { HistoryRetention } from '@parley/history';
import { createInterner } from './interner.ts';
import { tenantLimitsSchema, type TenantLimits } from './limits.ts';

/** The claims a session keeps (the raw `grants` are compiled into `VerifiedToken.grants`). */
export interface TokenClaims {
  sub: string;
  ns: string;
  jti: string;
  iat: number;
  exp: number;
  info?: UserInfo;
}

/**
 * A verified token as a session holds it. Everything but the identity is shared between tokens
 * with equal values, so an idle connection costs little memory.
 */
export interface VerifiedToken {
  claims: TokenClaims;
  grants: CompiledGrants;
  limits: Partial<TenantLimits> | undefined;
  /** Allowed `Origin`s; empty means any. */
  origins: readonly string[];
  historyEnabled: boolean;
  /** The tenant's history retention (`hret` claim); defaults apply to missing fields. */
  historyRetention: Partial<HistoryRetention> | undefined;
  /** Moderation events name the moderator and carry the reason (false: the tenant's `moderation.showModerators` is off, claim `mhide`). */
  showModerators: boolean;
}

const extraClaimsSchema = z.object({
  lim: tenantLimitsSchema.partial().optional(),
  origins: z.array(z.string().max(512)).max(100).optional(),
  hist: z.boolean().optional(),
  mhide: z.boolean().optional(),
  hret: z
    .object({
      maxAgeSeconds: z.number().int().positive(),
      maxMessagesPerRoom: z.number().int().positive(),
      maxBytes: z.number().int().positive(),
    })
    .partial()
    .optional(),
});

export type TokenVerifier = (token: string) => Promise<VerifiedToken>;

/** Distinct grant sets, tenants' settings and namespaces kept for sharing. */
const INTERNED_VALUES = 10_000;
const NO_ORIGINS: readonly string[] = Object.freeze([]);

/**
 * Verifies a user token locally against the auth service's key set (pinned algorithms, issuer,
 * audience, required claims: see `verifyUserToken`) and reads the tenant settings it carries.
 */
export function createTokenVerifier(getKey: JWTVerifyGetKey, options: { clockToleranceSeconds?: number } = {}): TokenVerifier {
  const grantsOf = createInterner<CompiledGrants>(INTERNED_VALUES);
  const settingsOf = createInterner<Omit<VerifiedToken, 'claims' | 'grants'>>(INTERNED_VALUES);
  const namespaceOf = createInterner<string>(INTERNED_VALUES);
  return async (token) => {
    const { claims, payload } = await verifyUserToken(token, getKey, options);
    const extra = extraClaimsSchema.safeParse(payload);
    if (!extra.success) throw new ParleyError('token_invalid', 'token claims do not match the Parley token format');
    const { lim, origins, hist, hret, mhide } = extra.data;
    const settings = settingsOf(JSON.stringify([lim, origins, hist, hret, mhide]), () => ({
      limits: lim,
      origins: origins ? Object.freeze(origins) : NO_ORIGINS,
      historyEnabled: hist ?? false,
      historyRetention: hret,
      showModerators: mhide !== true,
    }));
    return {
      claims: {
        sub: claims.sub,
        ns: namespaceOf(claims.ns, () => claims.ns),
        jti: claims.jti,
        iat: claims.iat,
        exp: claims.exp,
        ...(claims.info && { info: claims.info }),
      },
      grants: grantsOf(JSON.stringify(claims.grants), () => compileGrants(claims.grants)),
      ...settings,
    };
  };
}

import type { JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { ParleyError, compileGrants, type CompiledGrants, type UserClaims } from '@parley/protocol';
import { verifyUserToken } from '@parley/tokens';
import type { HistoryRetention } from '@parley/history';
import { tenantLimitsSchema, type TenantLimits } from './limits.ts';

export interface VerifiedToken {
  claims: UserClaims;
  grants: CompiledGrants;
  limits: Partial<TenantLimits> | undefined;
  /** Allowed `Origin`s; empty means any. */
  origins: string[];
  historyEnabled: boolean;
  /** The tenant's history retention (`hret` claim); defaults apply to missing fields. */
  historyRetention: Partial<HistoryRetention> | undefined;
}

const extraClaimsSchema = z.object({
  lim: tenantLimitsSchema.partial().optional(),
  origins: z.array(z.string().max(512)).max(100).optional(),
  hist: z.boolean().optional(),
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

/**
 * Verifies a user token locally against the auth service's key set (pinned algorithms, issuer,
 * audience, required claims: see `verifyUserToken`) and reads the tenant settings it carries.
 */
export function createTokenVerifier(getKey: JWTVerifyGetKey, options: { clockToleranceSeconds?: number } = {}): TokenVerifier {
  return async (token) => {
    const { claims, payload } = await verifyUserToken(token, getKey, options);
    const extra = extraClaimsSchema.safeParse(payload);
    if (!extra.success) throw new ParleyError('token_invalid', 'token claims do not match the Parley token format');
    return {
      claims,
      grants: compileGrants(claims.grants),
      limits: extra.data.lim,
      origins: extra.data.origins ?? [],
      historyEnabled: extra.data.hist ?? false,
      historyRetention: extra.data.hret,
    };
  };
}

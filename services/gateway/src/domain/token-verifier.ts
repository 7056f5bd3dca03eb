import { errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { ParleyError, TOKEN_ALGORITHMS, TOKEN_AUDIENCE, TOKEN_ISSUER, compileGrants, userClaimsSchema, type CompiledGrants, type UserClaims } from '@parley/protocol';
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
 * Verifies a user token locally against the auth service's key set. The algorithm list, issuer,
 * audience and required claims are pinned: `alg: none`, HMAC with a public key, a foreign issuer
 * or audience, and tokens without expiry are all refused.
 */
export function createTokenVerifier(getKey: JWTVerifyGetKey, options: { clockToleranceSeconds?: number } = {}): TokenVerifier {
  return async (token) => {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        algorithms: [...TOKEN_ALGORITHMS],
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        requiredClaims: ['exp', 'iat', 'sub', 'jti'],
        clockTolerance: options.clockToleranceSeconds ?? 5,
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new ParleyError('token_expired', undefined, { cause: error });
      throw new ParleyError('token_invalid', `token refused: ${(error as { code?: string }).code ?? (error as Error).name}`, { cause: error });
    }
    const claims = userClaimsSchema.safeParse(payload);
    const extra = extraClaimsSchema.safeParse(payload);
    if (!claims.success || !extra.success) throw new ParleyError('token_invalid', 'token claims do not match the Parley token format');
    return {
      claims: claims.data,
      grants: compileGrants(claims.data.grants),
      limits: extra.data.lim,
      origins: extra.data.origins ?? [],
      historyEnabled: extra.data.hist ?? false,
      historyRetention: extra.data.hret,
    };
  };
}

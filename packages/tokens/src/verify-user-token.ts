import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ParleyError, TOKEN_ALGORITHMS, TOKEN_AUDIENCE, TOKEN_ISSUER, userClaimsSchema, type UserClaims } from '@parley/protocol';

/** @default 5 s of clock skew tolerated on `exp`, `nbf` and `iat`. */
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;

/**
 * Verifies a Parley user token against the auth service's key set. The algorithm list, issuer,
 * audience and required claims are pinned: `alg: none`, HMAC signed with a public key, a foreign
 * issuer or audience, and tokens without expiry are all refused. Throws a ParleyError
 * (`token_expired` or `token_invalid`); returns the validated claims and the whole payload (for
 * claims a caller reads beyond the shared ones).
 */
export async function verifyUserToken(token: string, getKey: JWTVerifyGetKey, options: { clockToleranceSeconds?: number } = {}): Promise<{ claims: UserClaims; payload: JWTPayload }> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, getKey, {
      algorithms: [...TOKEN_ALGORITHMS],
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      requiredClaims: ['exp', 'iat', 'sub', 'jti'],
      clockTolerance: options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
    }));
  } catch (error) {
    // The keys could not be fetched (auth_unavailable): the token may be fine, say so.
    if (error instanceof ParleyError) throw error;
    if (error instanceof joseErrors.JWTExpired) throw new ParleyError('token_expired', undefined, { cause: error });
    throw new ParleyError('token_invalid', `token refused: ${(error as { code?: string }).code ?? (error as Error).name}`, { cause: error });
  }
  const claims = userClaimsSchema.safeParse(payload);
  if (!claims.success) throw new ParleyError('token_invalid', 'token claims do not match the Parley token format');
  return { claims: claims.data, payload };
}

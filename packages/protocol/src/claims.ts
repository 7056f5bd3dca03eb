import { z } from 'zod';
import { grantsSchema } from './grants.ts';
import { MAX_JSON_DEPTH, exceedsJsonDepth } from './limits.ts';
import { MAX_USER_ID_LENGTH, NAMESPACE_PATTERN, isUserId } from './names.ts';

/** Issuer and audience of Parley user tokens. */
export const TOKEN_ISSUER = 'parley-auth';
export const TOKEN_AUDIENCE = 'parley-gateway';
/** Signature algorithms accepted for user tokens; nothing else (never `none`, never HMAC). */
export const TOKEN_ALGORITHMS = ['ES256', 'EdDSA'] as const;

/** User info shown to other members in presence: small, free-form, JSON. */
export const userInfoSchema = z
  .record(z.string().max(64), z.unknown())
  // One check: measuring a value nested too deep would overflow the stack.
  .refine((v) => !exceedsJsonDepth(v, MAX_JSON_DEPTH) && JSON.stringify(v).length <= 1024, `user info is at most 1 KiB as JSON, nested at most ${MAX_JSON_DEPTH} levels deep`);

/** Claims of a Parley user token, after signature verification. */
export const userClaimsSchema = z.object({
  sub: z.string().min(1).max(MAX_USER_ID_LENGTH).refine(isUserId, 'user id'),
  ns: z.string().regex(NAMESPACE_PATTERN),
  grants: grantsSchema,
  info: userInfoSchema.optional(),
  jti: z.string().min(1).max(64),
  iat: z.number().int(),
  exp: z.number().int(),
  nbf: z.number().int().optional(),
});

export type UserClaims = z.infer<typeof userClaimsSchema>;
export type UserInfo = z.infer<typeof userInfoSchema>;

import { z } from '@hono/zod-openapi';
import { ERROR_CODES, MAX_JSON_DEPTH, MAX_USER_ID_LENGTH, NAMESPACE_PATTERN, ROOM_PATTERN, exceedsJsonDepth, isUserId } from '@parley/protocol';
import { KEY_ID_PATTERN } from '../api-keys.ts';
import { tenantSettingsSchema } from '../settings.ts';

/** The JSON body of every error: `{ code, message, temporary }` from the protocol's registry. */
export const errorSchema = z
  .object({
    code: z.enum(ERROR_CODES as [string, ...string[]]).openapi({ example: 'unauthorized' }),
    message: z.string().openapi({ example: 'missing or invalid credentials' }),
    temporary: z.boolean().openapi({ example: false }),
  })
  .openapi('Error');

/** Error responses for a route, by status, for the OpenAPI document. */
export function errorResponses(...statuses: Array<400 | 401 | 403 | 404 | 409 | 413 | 429 | 503>) {
  const descriptions: Record<number, string> = {
    400: 'Invalid request (`bad_json`, `bad_frame`, `invalid_user`, `invalid_room`)',
    401: 'Missing, unknown or revoked credentials (`unauthorized`)',
    403: 'Not allowed (`namespace_mismatch`)',
    404: 'Not found (`not_found`)',
    409: 'Already exists (`conflict`)',
    413: 'Body or message too large (`frame_too_large`), or the token would be larger than gateways accept (`token_too_large`)',
    429: 'Too many failed credential attempts from this address (`rate_limited`); see `Retry-After`',
    503: 'The store or the bus is unavailable (`unavailable`); retry',
  };
  return Object.fromEntries(
    statuses.map((s) => [s, { description: descriptions[s] ?? 'Error', content: { 'application/json': { schema: errorSchema } } }]),
  ) as Record<number, { description: string; content: { 'application/json': { schema: typeof errorSchema } } }>;
}

export const namespaceSchema = z
  .string()
  .regex(NAMESPACE_PATTERN, 'a namespace is 1-63 lower-case letters, digits and dashes, not starting or ending with a dash')
  .openapi({ example: 'acme' });

export const roomParamSchema = z.object({
  room: z
    .string()
    .regex(ROOM_PATTERN, 'a room name is 1-128 letters, digits or _-:@/#+=~! (no dots, wildcards or white space)')
    // The pattern as JSON Schema reads it (ECMA-262 with Unicode property escapes), without the `u` flag's suffix.
    .openapi({ param: { name: 'room', in: 'path' }, example: 'lobby', description: 'Room name (URL-encoded)', pattern: ROOM_PATTERN.source }),
});

export const userIdSchema = z
  .string()
  .min(1)
  .max(MAX_USER_ID_LENGTH)
  .refine(isUserId, 'user ids are well-formed Unicode (no lone surrogates), have no control characters and do not start with $')
  .openapi({ example: 'alice' });

export const userParamSchema = z.object({
  user: userIdSchema.openapi({ param: { name: 'user', in: 'path' }, description: 'User id (URL-encoded)' }),
});

export const nsParamSchema = z.object({ ns: namespaceSchema.openapi({ param: { name: 'ns', in: 'path' } }) });

export const keyParamSchema = nsParamSchema.extend({
  keyId: z
    .string()
    .regex(KEY_ID_PATTERN, 'not a key id')
    .openapi({ param: { name: 'keyId', in: 'path' }, example: 'key_3q2-7wEAbF9x' }),
});

export const tenantSchema = z
  .object({
    ns: namespaceSchema,
    settings: tenantSettingsSchema,
    createdAt: z.string().openapi({ example: '2026-01-01T12:00:00.000Z' }),
    updatedAt: z.string().openapi({ example: '2026-01-01T12:00:00.000Z' }),
  })
  .openapi('Tenant');

export const apiKeyInfoSchema = z
  .object({
    id: z.string().openapi({ example: 'key_3q2-7wEAbF9x' }),
    prefix: z.string().openapi({ example: 'pk_acme_Xy7Q', description: 'The start of the key, to tell keys apart' }),
    createdAt: z.string().openapi({ example: '2026-01-01T12:00:00.000Z' }),
  })
  .openapi('ApiKeyInfo');

/** A message payload: any JSON value (required). */
export const dataSchema = z
  .unknown()
  .refine((v) => v !== undefined, 'data is required')
  .refine((v) => !exceedsJsonDepth(v, MAX_JSON_DEPTH), `data is nested at most ${MAX_JSON_DEPTH} levels deep`)
  .openapi({ description: 'Any JSON value', example: { text: 'hello' } });

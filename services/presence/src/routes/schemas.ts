import { z } from '@hono/zod-openapi';
import { ERRORS, MAX_USER_ID_LENGTH, ROOM_PATTERN, isUserId, type ErrorCode } from '@parley/protocol';

export const roomParam = z.object({
  room: z
    .string()
    .regex(ROOM_PATTERN, 'not a valid room name')
    // The pattern as JSON Schema reads it, without the `u` flag's suffix the converter would add.
    .openapi({ param: { name: 'room', in: 'path' }, description: 'The room name, percent-encoded', example: 'lobby', pattern: ROOM_PATTERN.source }),
});

export const userParam = z.object({
  user: z
    .string()
    .min(1)
    .max(MAX_USER_ID_LENGTH)
    .refine(isUserId, 'not a valid user id')
    .openapi({ param: { name: 'user', in: 'path' }, description: 'The user id, percent-encoded', example: 'ann' }),
});

const memberSchema = z
  .object({ user: z.string(), connections: z.number().int(), info: z.record(z.string(), z.unknown()).optional() })
  .openapi('PresenceMember');

export const membersSchema = z
  .object({ room: z.string(), users: z.number().int(), connections: z.number().int(), members: z.array(memberSchema) })
  .openapi('RoomMembers');

export const countSchema = z.object({ room: z.string(), users: z.number().int(), connections: z.number().int() }).openapi('RoomCount');

export const userRoomsSchema = z.object({ user: z.string(), rooms: z.array(z.string()) }).openapi('UserRooms');

export const errorSchema = z
  .object({ code: z.string(), message: z.string(), temporary: z.boolean() })
  .openapi('Error', { example: { code: 'unauthorized', message: ERRORS.unauthorized.message, temporary: false } });

const STATUS_CODES: Record<number, ErrorCode[]> = {
  400: ['invalid_room', 'invalid_user'],
  401: ['unauthorized', 'token_invalid', 'token_expired'],
  403: ['forbidden'],
  429: ['rate_limited'],
  503: ['presence_unavailable', 'unavailable'],
};

/** OpenAPI error responses for the given statuses. */
export function errorResponses(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((status) => [status, { description: `Error: ${(STATUS_CODES[status] ?? []).join(', ')}`, content: { 'application/json': { schema: errorSchema } } }]),
  );
}

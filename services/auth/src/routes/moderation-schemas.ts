import { z } from '@hono/zod-openapi';
import { AUDIT_ACTIONS, type RoomModeration } from '@parley/moderation';
import { roomSettingsSchema } from '@parley/protocol';
import { userIdSchema } from './schemas.ts';

/** @default 100: audit entries per page when `limit` is not given. */
export const DEFAULT_AUDIT_PAGE = 100;
export const MAX_AUDIT_PAGE = 1000;
/** Longest ban or mute: a year (as the client frames allow). */
export const MAX_MODERATION_SECONDS = 365 * 24 * 3600;

const reason = z.string().max(200).regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, 'no control characters').optional().openapi({ description: 'Shown to members unless the tenant hides moderators; always kept in the audit log', example: 'spam' });
const seconds = z
  .number()
  .int()
  .min(1)
  .max(MAX_MODERATION_SECONDS)
  .optional()
  .openapi({ description: 'How long it lasts; absent: until lifted', example: 3600 });

// The protocol's schema is plain zod (no `.openapi()`): its fields, in an object that has it.
export const roomSettingsResponseSchema = z.object(roomSettingsSchema.shape).openapi('RoomSettings');
export const roomSettingsPatchSchema = z.object(roomSettingsSchema.shape).partial().strict().openapi('RoomSettingsPatch');

export const timedActionBody = z.object({ user: userIdSchema, seconds, reason }).strict().openapi('TimedModerationRequest');
export const kickBody = z.object({ user: userIdSchema, reason }).strict().openapi('KickRequest');
export const roleBody = z.object({ role: z.enum(['owner', 'moderator']) }).strict().openapi('RoomRoleRequest');
export const deleteMessageBody = z
  .object({
    seq: z.number().int().positive().optional().openapi({ description: 'The stored message to delete (tenants with history)' }),
    msgId: z.string().min(1).max(64).optional().openapi({ description: 'The message members should drop (any tenant)' }),
    reason,
  })
  .strict()
  .refine((body) => body.seq !== undefined || body.msgId !== undefined, 'give seq or msgId')
  .openapi('DeleteMessageRequest');

export const auditEntrySchema = z
  .object({
    id: z.string().openapi({ description: "Increasing within the tenant's log; pass it as `after` to read on" }),
    ts: z.number().int().openapi({ description: 'When, in milliseconds since the epoch' }),
    room: z.string(),
    action: z.enum(AUDIT_ACTIONS),
    actor: z.string().openapi({ description: "The moderator's user id, or `$server` for the tenant's backend and the operator", example: '$server' }),
    target: z.string().optional(),
    reason: z.string().optional(),
    details: z.record(z.string(), z.unknown()).optional().openapi({ description: 'What the action set: `until`, a role, settings, a deleted message\'s seq or msgId' }),
  })
  .openapi('AuditEntry');

export const entryResponseSchema = z.object({ entry: auditEntrySchema }).openapi('ModerationResult');
export const kickResponseSchema = z
  .object({ entry: auditEntrySchema.optional().openapi({ description: 'Absent when this auth process has no moderation store (the kick is then not audited)' }) })
  .openapi('KickResult');
export const settingsResponseSchema = z.object({ settings: roomSettingsResponseSchema, entry: auditEntrySchema }).openapi('RoomSettingsResult');

const timed = z.object({ user: z.string(), until: z.number().int().nullable().openapi({ description: 'Milliseconds since the epoch; null: until lifted' }) });
export const roomModerationSchema = z
  .object({
    settings: roomSettingsResponseSchema,
    bans: z.array(timed).openapi({ description: 'Bans in force' }),
    mutes: z.array(timed).openapi({ description: 'Mutes in force' }),
    invites: z.array(z.string()),
    roles: z.array(z.object({ user: z.string(), role: z.enum(['owner', 'moderator']) })),
  })
  .openapi('RoomModeration');

export const auditQuerySchema = z.object({
  after: z
    .string()
    .regex(/^\d{1,20}(-\d{1,20})?$/, 'the id of an audit entry')
    .optional()
    .openapi({ param: { name: 'after', in: 'query' }, description: 'Entries after this id (the `next` of the previous page)' }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_AUDIT_PAGE)
    .default(DEFAULT_AUDIT_PAGE)
    .openapi({ param: { name: 'limit', in: 'query' }, example: DEFAULT_AUDIT_PAGE }),
});
export const auditPageSchema = z
  .object({
    entries: z.array(auditEntrySchema),
    next: z.string().optional().openapi({ description: 'Present when more entries follow: pass it as `after`' }),
  })
  .openapi('AuditPage');

/** A room's moderation state as the API shows it: lists instead of maps and sets. */
export function describeRoom(state: RoomModeration): z.infer<typeof roomModerationSchema> {
  return {
    settings: state.settings,
    bans: [...state.bans].map(([user, until]) => ({ user, until })),
    mutes: [...state.mutes].map(([user, until]) => ({ user, until })),
    invites: [...state.invites],
    roles: [...state.roles].map(([user, role]) => ({ user, role })),
  };
}

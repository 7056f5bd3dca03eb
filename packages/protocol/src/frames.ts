import { z } from 'zod';
import { ROOM_PATTERN, MAX_USER_ID_LENGTH } from './names.ts';
import type { ErrorBody } from './errors.ts';
import type { UserInfo } from './claims.ts';

/** Protocol version announced in `welcome`. */
export const PROTOCOL_VERSION = 1;

/** WebSocket subprotocol names: the first is required, the second carries the token. */
export const SUBPROTOCOL = 'parley.v1';
export const TOKEN_SUBPROTOCOL_PREFIX = 'parley.token.';

const requestId = z.union([z.string().max(64), z.number().int().safe()]).optional();
const room = z.string().max(512).regex(ROOM_PATTERN, 'invalid_room');
const payload = z.unknown().refine((v) => v !== undefined, 'data is required');

export const joinFrame = z.object({
  type: z.literal('join'),
  id: requestId,
  room,
  /** Resume: the last room sequence this client saw; messages after it are replayed first. */
  since: z.number().int().nonnegative().safe().optional(),
});
export const leaveFrame = z.object({ type: z.literal('leave'), id: requestId, room });
export const publishFrame = z.object({
  type: z.literal('publish'),
  id: requestId,
  room,
  data: payload,
  /** A client-generated publish id: a repeat within the deduplication window is dropped. */
  pid: z.string().min(1).max(64).optional(),
  /** Delivered to the room's current members only: never stored, no `seq`, its own rate limit. */
  ephemeral: z.boolean().optional(),
});
export const directFrame = z.object({
  type: z.literal('direct'),
  id: requestId,
  to: z.string().min(1).max(MAX_USER_ID_LENGTH),
  data: payload,
});
export const presenceFrame = z.object({ type: z.literal('presence'), id: requestId, room });
export const historyFrame = z.object({
  type: z.literal('history'),
  id: requestId,
  room,
  /** Messages with a sequence greater than this; without it, the latest `limit` messages. */
  after: z.number().int().nonnegative().safe().optional(),
  /** Messages with a smaller sequence (the newest `limit` of them): paging backwards. Not with `after`. */
  before: z.number().int().positive().safe().optional(),
  limit: z.number().int().min(1).max(1000).optional(),
});
export const refreshFrame = z.object({ type: z.literal('refresh'), id: requestId, token: z.string().min(1).max(8192) });
export const pingFrame = z.object({ type: z.literal('ping'), id: requestId });

const member = z.string().min(1).max(MAX_USER_ID_LENGTH);
/** Shown to members and kept in the audit log: no control characters (terminals print the log). */
// eslint-disable-next-line no-control-regex
export const moderationReasonSchema = z.string().max(200).regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, 'no control characters');
const reason = moderationReasonSchema.optional();
/** How long a ban or mute lasts; absent: until lifted. At most a year. */
const duration = z.number().int().min(1).max(365 * 24 * 3600).optional();

export const kickFrame = z.object({ type: z.literal('kick'), id: requestId, room, user: member, reason });
export const banFrame = z.object({ type: z.literal('ban'), id: requestId, room, user: member, seconds: duration, reason });
export const unbanFrame = z.object({ type: z.literal('unban'), id: requestId, room, user: member });
export const muteFrame = z.object({ type: z.literal('mute'), id: requestId, room, user: member, seconds: duration, reason });
export const unmuteFrame = z.object({ type: z.literal('unmute'), id: requestId, room, user: member });
export const inviteFrame = z.object({ type: z.literal('invite'), id: requestId, room, user: member });
export const uninviteFrame = z.object({ type: z.literal('uninvite'), id: requestId, room, user: member });
/** Deletes a stored message by `seq` (tenants with history), or tells members to drop `msgId` (any tenant). */
export const deleteFrame = z
  .object({ type: z.literal('delete'), id: requestId, room, seq: z.number().int().positive().safe().optional(), msgId: z.string().min(1).max(64).optional(), reason })
  .refine((f) => f.seq !== undefined || f.msgId !== undefined, 'delete needs seq or msgId');

/** The settings of a room a moderator controls; every field optional in a change. */
export const roomSettingsSchema = z.object({
  /** Only invited users and moderators may join. */
  inviteOnly: z.boolean(),
  /** Only moderators may publish. */
  readOnly: z.boolean(),
  /** Seconds between two messages of one member (moderators are exempt); 0 is off. */
  slowModeSeconds: z.number().int().min(0).max(3600),
  /** Most users in the room at once (moderators are exempt); 0 is no limit. */
  maxMembers: z.number().int().min(0).max(1_000_000),
});
export type RoomSettings = z.infer<typeof roomSettingsSchema>;
export const DEFAULT_ROOM_SETTINGS: Readonly<RoomSettings> = { inviteOnly: false, readOnly: false, slowModeSeconds: 0, maxMembers: 0 };
/** Changes the given settings; with none, answers the current ones. Reading needs only membership-level grants (`subscribe`). */
export const settingsFrame = z.object({ type: z.literal('settings'), id: requestId, room, ...roomSettingsSchema.partial().shape });

export const MODERATION_FRAME_TYPES = ['kick', 'ban', 'unban', 'mute', 'unmute', 'invite', 'uninvite', 'delete', 'settings'] as const;

export const clientFrameSchema = z.discriminatedUnion('type', [
  joinFrame,
  leaveFrame,
  publishFrame,
  directFrame,
  presenceFrame,
  historyFrame,
  refreshFrame,
  pingFrame,
  kickFrame,
  banFrame,
  unbanFrame,
  muteFrame,
  unmuteFrame,
  inviteFrame,
  uninviteFrame,
  deleteFrame,
  settingsFrame,
]);

export type ClientFrame = z.infer<typeof clientFrameSchema>;
export type ClientFrameType = ClientFrame['type'];
export const CLIENT_FRAME_TYPES: readonly ClientFrameType[] = clientFrameSchema.options.map((o) => o.shape.type.value);

export type RequestId = string | number;

export interface Sender {
  user: string;
  conn?: string;
  info?: UserInfo;
}

export interface PresenceMember {
  user: string;
  info?: UserInfo;
  connections: number;
}

export interface RoomMessage {
  room: string;
  msgId: string;
  from: Sender;
  data: unknown;
  /** Server time of the publish, milliseconds since the epoch. */
  ts: number;
  /** Per-room sequence, when the tenant keeps history. */
  seq?: number;
  /** An ephemeral event (never stored, no `seq`). */
  ephemeral?: true;
}

export type ServerFrame =
  | {
      type: 'welcome';
      protocol: number;
      conn: string;
      user: string;
      ns: string;
      exp: number;
      limits: { maxFrameBytes: number; messagesPerSecond: number; burst: number; maxRooms: number };
    }
  | { type: 'joined'; id?: RequestId; room: string; seq?: number }
  | { type: 'ack'; id?: RequestId; msgId?: string; seq?: number }
  | ({ type: 'message' } & RoomMessage)
  | { type: 'direct'; msgId: string; from: Sender; data: unknown; ts: number }
  | { type: 'presence'; id?: RequestId; room: string; users: number; connections: number; members: PresenceMember[] }
  | { type: 'presence.join'; room: string; user: string; info?: UserInfo }
  | { type: 'presence.leave'; room: string; user: string }
  | { type: 'history'; id?: RequestId; room: string; messages: RoomMessage[]; first?: number; last?: number; more: boolean }
  | ({ type: 'error'; id?: RequestId; room?: string } & ErrorBody)
  | { type: 'reconnect'; reason: string; delayMs: number }
  | { type: 'settings'; id?: RequestId; room: string; settings: RoomSettings }
  | ModerationEvent
  | { type: 'pong'; id?: RequestId };

export type ServerFrameType = ServerFrame['type'];

/** Who acted: a moderator's user id, or `$server` for the tenant's backend; left out when the tenant hides moderators. */
export type ModerationEvent =
  | { type: 'member.kicked'; room: string; user: string; by?: string; reason?: string; seq?: number }
  | { type: 'member.banned'; room: string; user: string; until?: number; by?: string; reason?: string; seq?: number }
  | { type: 'member.unbanned'; room: string; user: string; by?: string; seq?: number }
  | { type: 'member.muted'; room: string; user: string; until?: number; by?: string; reason?: string; seq?: number }
  | { type: 'member.unmuted'; room: string; user: string; by?: string; seq?: number }
  | { type: 'member.invited'; room: string; user: string; by?: string; seq?: number }
  | { type: 'member.uninvited'; room: string; user: string; by?: string; seq?: number }
  | { type: 'message.deleted'; room: string; deleted: { seq?: number; msgId?: string }; by?: string; reason?: string; seq?: number }
  | { type: 'room.settings'; room: string; settings: RoomSettings; by?: string; seq?: number };
export type ModerationEventType = ModerationEvent['type'];
export const MODERATION_EVENT_TYPES = [
  'member.kicked',
  'member.banned',
  'member.unbanned',
  'member.muted',
  'member.unmuted',
  'member.invited',
  'member.uninvited',
  'message.deleted',
  'room.settings',
] as const satisfies readonly ModerationEventType[];

import { z } from 'zod';
import { ROOM_PATTERN, MAX_USER_ID_LENGTH } from './names.ts';
import { roomSettingsSchema, type RoomMessage, type Sender } from './frames.ts';

/**
 * Control messages from the control plane (auth, presence) to every gateway, published as
 * JSON on `subjects.control(ns)`. Gateways act on the connections of that namespace only.
 */
const user = z.string().min(1).max(MAX_USER_ID_LENGTH);
/** Until when a ban or mute holds (ms since the epoch); null for ever. */
const until = z.number().int().nullable();

/** One change to a room's moderation state (bans, mutes, invites, roles, settings). */
export const moderationChangeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('ban'), user, until }),
  z.object({ kind: z.literal('unban'), user }),
  z.object({ kind: z.literal('mute'), user, until }),
  z.object({ kind: z.literal('unmute'), user }),
  z.object({ kind: z.literal('invite'), user }),
  z.object({ kind: z.literal('uninvite'), user }),
  z.object({ kind: z.literal('role'), user, role: z.enum(['owner', 'moderator']).nullable() }),
  z.object({ kind: z.literal('settings'), settings: roomSettingsSchema.partial() }),
]);
export type ModerationChange = z.infer<typeof moderationChangeSchema>;

export const controlMessageSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('disconnect'), user, reason: z.string().max(200).optional() }),
  z.object({ op: z.literal('kick'), user, room: z.string().regex(ROOM_PATTERN) }),
  /** Every token of `user` issued at or before `before` (unix seconds) is invalid. */
  z.object({ op: z.literal('revoke'), user, before: z.number().int() }),
  /** One token, by `jti`; `exp` says how long the gateway must remember it. */
  z.object({ op: z.literal('revoke-token'), jti: z.string().min(1).max(64), exp: z.number().int() }),
  /**
   * A room's moderation state changed (a ban, mute, invite, role or setting): gateways reload it.
   * `remove`: the user's connections leave the room now (kick, ban, uninvite from an invite-only room).
   */
  z.object({
    op: z.literal('moderation'),
    room: z.string().regex(ROOM_PATTERN),
    /** What changed, applied at once by gateways holding the room (before the members' event reaches them); they reload it too. */
    change: moderationChangeSchema.optional(),
    remove: user.optional(),
    why: z.enum(['kick', 'ban', 'uninvite']).optional(),
    reason: z.string().max(200).optional(),
  }),
]);
export type ControlMessage = z.infer<typeof controlMessageSchema>;

/** The sender of server-side publishes; user ids starting with `$` are reserved for it. */
export const SERVER_SENDER: Sender = { user: '$server' };

const encoder = new TextEncoder();

/**
 * UTF-8 bytes of a frame made on a hot path. `Buffer.from` copies a small string into Node's
 * shared 8 KiB pool; `TextEncoder` allocates an ArrayBuffer per call, which cost ~2 µs per
 * message with its garbage collection. The bytes are a view into the pool: a holder that keeps
 * them for long copies them (see the in-memory history log).
 */
const frameBytes = (json: string): Uint8Array => Buffer.from(json);

/**
 * The bytes of a `message` frame as clients receive it. Gateways forward these bytes unchanged
 * to every local member of the room: one serialization per message, not one per socket. `ts`
 * comes right after `type`, so that a receiving gateway reads it from the bytes
 * (`roomMessageTimestamp`) instead of from a bus header or a parse.
 */
export function encodeRoomMessageFrame(message: RoomMessage): Uint8Array {
  const { ts, room, msgId, from, data, seq } = message;
  return frameBytes(JSON.stringify({ type: 'message', ts, room, msgId, from, data, ...(seq !== undefined && { seq }) }));
}

const ROOM_MESSAGE_PREFIX = encoder.encode('{"type":"message","ts":');
/** Digits of a millisecond timestamp until the year 2286. */
const MAX_TS_DIGITS = 13;

/** The `ts` of a frame made by `encodeRoomMessageFrame`, read from its bytes; undefined for any other bytes. */
export function roomMessageTimestamp(bytes: Uint8Array): number | undefined {
  const prefix = ROOM_MESSAGE_PREFIX;
  if (bytes.byteLength <= prefix.length) return undefined;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return undefined;
  let ts = 0;
  let i = prefix.length;
  for (const end = Math.min(bytes.byteLength, i + MAX_TS_DIGITS); i < end; i++) {
    const digit = bytes[i]! - 48;
    if (digit < 0 || digit > 9) break;
    ts = ts * 10 + digit;
  }
  return i > prefix.length && bytes[i] === 44 /* , */ ? ts : undefined;
}

export function encodeDirectFrame(message: { msgId: string; from: Sender; data: unknown; ts: number }): Uint8Array {
  return frameBytes(JSON.stringify({ type: 'direct', ...message }));
}

export function encodeControlMessage(message: ControlMessage): Uint8Array {
  return frameBytes(JSON.stringify(message));
}

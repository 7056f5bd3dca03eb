import { z } from 'zod';
import { ROOM_PATTERN, MAX_USER_ID_LENGTH } from './names.ts';
import type { RoomMessage, Sender } from './frames.ts';

/**
 * Control messages from the control plane (auth, presence) to every gateway, published as
 * JSON on `subjects.control(ns)`. Gateways act on the connections of that namespace only.
 */
const user = z.string().min(1).max(MAX_USER_ID_LENGTH);
export const controlMessageSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('disconnect'), user, reason: z.string().max(200).optional() }),
  z.object({ op: z.literal('kick'), user, room: z.string().regex(ROOM_PATTERN) }),
  /** Every token of `user` issued at or before `before` (unix seconds) is invalid. */
  z.object({ op: z.literal('revoke'), user, before: z.number().int() }),
  /** One token, by `jti`; `exp` says how long the gateway must remember it. */
  z.object({ op: z.literal('revoke-token'), jti: z.string().min(1).max(64), exp: z.number().int() }),
]);
export type ControlMessage = z.infer<typeof controlMessageSchema>;

/** The sender of server-side publishes; user ids starting with `$` are reserved for it. */
export const SERVER_SENDER: Sender = { user: '$server' };

const encoder = new TextEncoder();

/**
 * The bytes of a `message` frame as clients receive it. Gateways forward these bytes unchanged
 * to every local member of the room: one serialization per message, not one per socket.
 */
export function encodeRoomMessageFrame(message: RoomMessage): Uint8Array {
  return encoder.encode(JSON.stringify({ type: 'message', ...message }));
}

export function encodeDirectFrame(message: { msgId: string; from: Sender; data: unknown; ts: number }): Uint8Array {
  return encoder.encode(JSON.stringify({ type: 'direct', ...message }));
}

export function encodeControlMessage(message: ControlMessage): Uint8Array {
  return encoder.encode(JSON.stringify(message));
}

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

export const clientFrameSchema = z.discriminatedUnion('type', [
  joinFrame,
  leaveFrame,
  publishFrame,
  directFrame,
  presenceFrame,
  historyFrame,
  refreshFrame,
  pingFrame,
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
  | { type: 'pong'; id?: RequestId };

export type ServerFrameType = ServerFrame['type'];

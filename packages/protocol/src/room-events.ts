/**
 * A room's lifecycle as decided where presence is decided (the presence store, atomically per
 * room): published on `subjects.roomEvents(ns, room)` by the gateway (joins, leaves) and the
 * presence sweeper (leaves of dead connections), one message per decision holding its events in
 * order, and read by the webhook dispatchers.
 */
export const ROOM_EVENT_TYPES = ['room.occupied', 'user.online', 'member.joined', 'member.left', 'user.offline', 'room.vacated', 'message.published', 'moderation.action'] as const;
export type RoomEventType = (typeof ROOM_EVENT_TYPES)[number];

export interface RoomEvent {
  type: RoomEventType;
  /** For `user.*` events, the room whose join or leave made the user come online or go offline. */
  room: string;
  /** Set for member, user and message events (the message's author). */
  user?: string;
  /** Set for `message.published`: the message as room members received it. */
  message?: { msgId: string; ts: number; data: unknown };
  /** Set for `moderation.action`: the audit entry of the action (`user` is its target, if any). */
  moderation?: ModerationActionEvent;
}

/** A moderator's or the backend's action as the tenant's backend hears of it (its audit entry). */
export interface ModerationActionEvent {
  /** The audit entry's id (`GET /v1/moderation/audit`). */
  id: string;
  action: string;
  /** The moderator's user id, or `$server`. */
  actor: string;
  /** When it was applied, ms since the epoch. */
  ts: number;
  reason?: string;
  details?: Record<string, unknown>;
}

/**
 * The `message.published` event of a room message as the bus carries it (the `message` frame a
 * gateway or the server API published on `chat.<ns>.<room>`); undefined for anything else.
 */
export function messageEventOf(frame: Uint8Array): RoomEvent | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(frame));
  } catch {
    return undefined;
  }
  const m = parsed as { type?: unknown; room?: unknown; msgId?: unknown; ts?: unknown; from?: { user?: unknown }; data?: unknown } | null;
  if (m?.type !== 'message' || typeof m.room !== 'string' || typeof m.msgId !== 'string' || typeof m.ts !== 'number' || typeof m.from?.user !== 'string') return undefined;
  return { type: 'message.published', room: m.room, user: m.from.user, message: { msgId: m.msgId, ts: m.ts, data: m.data } };
}

/** What one presence decision changed beyond the user's place in the room. */
export interface PresenceTransitions {
  /** The room was empty before this join, or is empty after this leave. */
  room: boolean;
  /** This join is the user's first room in the tenant, or this leave its last. */
  tenant: boolean;
}

/** The events of one join: `room.occupied` first when the room was empty, `user.online` when it is the user's first room. */
export function joinEvents(room: string, user: string, transitions: PresenceTransitions): RoomEvent[] {
  return [
    ...(transitions.room ? [{ type: 'room.occupied' as const, room }] : []),
    ...(transitions.tenant ? [{ type: 'user.online' as const, room, user }] : []),
    { type: 'member.joined', room, user },
  ];
}

/** The events of one leave: `user.offline` when it was the user's last room, `room.vacated` last when the room became empty. */
export function leaveEvents(room: string, user: string, transitions: PresenceTransitions): RoomEvent[] {
  return [
    { type: 'member.left', room, user },
    ...(transitions.tenant ? [{ type: 'user.offline' as const, room, user }] : []),
    ...(transitions.room ? [{ type: 'room.vacated' as const, room }] : []),
  ];
}

export function encodeRoomEvents(events: readonly RoomEvent[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ events }));
}

/** The events of a message, or undefined when it is not one (never throws). */
export function decodeRoomEvents(bytes: Uint8Array): RoomEvent[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  const events = (parsed as { events?: unknown } | null)?.events;
  if (!Array.isArray(events)) return undefined;
  const valid = events.filter(
    (e): e is RoomEvent =>
      typeof e === 'object' && e !== null && (ROOM_EVENT_TYPES as readonly string[]).includes((e as RoomEvent).type) && typeof (e as RoomEvent).room === 'string' &&
      ((e as RoomEvent).type.startsWith('room.') || (e as RoomEvent).type === 'moderation.action' || typeof (e as RoomEvent).user === 'string') &&
      ((e as RoomEvent).type !== 'message.published' || (typeof (e as RoomEvent).message?.msgId === 'string' && typeof (e as RoomEvent).message?.ts === 'number')) &&
      ((e as RoomEvent).type !== 'moderation.action' || (typeof (e as RoomEvent).moderation?.action === 'string' && typeof (e as RoomEvent).moderation?.actor === 'string')),
  );
  return valid.length === events.length ? valid : undefined;
}

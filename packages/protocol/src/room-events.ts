/**
 * A room's lifecycle as decided where presence is decided (the presence store, atomically per
 * room): published on `subjects.roomEvents(ns, room)` by the gateway (joins, leaves) and the
 * presence sweeper (leaves of dead connections), one message per decision holding its events in
 * order, and read by the webhook dispatchers.
 */
export const ROOM_EVENT_TYPES = ['room.occupied', 'member.joined', 'member.left', 'room.vacated'] as const;
export type RoomEventType = (typeof ROOM_EVENT_TYPES)[number];

export interface RoomEvent {
  type: RoomEventType;
  room: string;
  /** Set for member events. */
  user?: string;
}

/** The events of one join (`room.occupied` first when the room was empty). */
export function joinEvents(room: string, user: string, firstForRoom: boolean): RoomEvent[] {
  return firstForRoom ? [{ type: 'room.occupied', room }, { type: 'member.joined', room, user }] : [{ type: 'member.joined', room, user }];
}

/** The events of one leave (`room.vacated` last when the room became empty). */
export function leaveEvents(room: string, user: string, lastForRoom: boolean): RoomEvent[] {
  return lastForRoom ? [{ type: 'member.left', room, user }, { type: 'room.vacated', room }] : [{ type: 'member.left', room, user }];
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
      ((e as RoomEvent).type.startsWith('room.') || typeof (e as RoomEvent).user === 'string'),
  );
  return valid.length === events.length ? valid : undefined;
}

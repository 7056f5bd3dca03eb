import { decodeRoomEvents, fromSubjectToken, ROOM_EVENT_TYPES, type ModerationActionEvent, type RoomEventType } from '@parley/protocol';

export const WEBHOOK_EVENT_TYPES = ROOM_EVENT_TYPES;
export type WebhookEventType = RoomEventType;

/** What a receiver gets as the request body (and what `webhook-id` names). */
export interface WebhookEvent {
  /** Stable across retries and redeliveries: the receiver's idempotency key. */
  id: string;
  type: WebhookEventType;
  /** When Parley recorded it, ISO 8601 (UTC). */
  time: string;
  tenant: string;
  /**
   * `user` for member, user and message events; for `user.*`, `room` is the room whose join or
   * leave caused it. `message.published` adds the message: `msgId`, `ts` (ms) and its `data`.
   * `moderation.action` adds the action's audit entry (`user`: its target, if any).
   */
  data: { room: string; user?: string; msgId?: string; ts?: number; data?: unknown; moderation?: ModerationActionEvent };
}

/**
 * The webhook events of one room-events message published on `events.<ns>.<room token>` (one
 * presence decision of a gateway or the sweeper: a join, with `room.occupied` and `user.online`
 * before it when the room was empty or the user in no other room; a leave, with `user.offline` and
 * `room.vacated` after it), in order.
 * Ids are `<idBase>-<index>`. Empty for anything else.
 */
export function eventsFromMessage(subject: string, payload: Uint8Array, idBase: string, recordedAt: Date): WebhookEvent[] {
  const [prefix, ns, token, extra] = subject.split('.');
  if (prefix !== 'events' || !ns || !token || extra !== undefined) return [];
  const room = fromSubjectToken(token);
  const events = decodeRoomEvents(payload);
  if (!events || events.some((e) => e.room !== room)) return [];
  return events.map((e, i) => ({
    id: `${idBase}-${i}`,
    type: e.type,
    time: recordedAt.toISOString(),
    tenant: ns,
    data: {
      room,
      ...(e.user !== undefined && { user: e.user }),
      ...(e.message && { msgId: e.message.msgId, ts: e.message.ts, data: e.message.data }),
      ...(e.moderation && { moderation: e.moderation }),
    },
  }));
}

/** The ordering key: one room's events are delivered one after another. */
export const orderKey = (event: WebhookEvent) => `${event.tenant}\u0000${event.data.room}`;

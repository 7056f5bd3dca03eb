import { fromSubjectToken } from '@parley/protocol';

export const WEBHOOK_EVENT_TYPES = ['member.joined', 'member.left'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What a receiver gets as the request body (and what `webhook-id` names). */
export interface WebhookEvent {
  /** Stable across retries and redeliveries: the receiver's idempotency key. */
  id: string;
  type: WebhookEventType;
  /** When Parley recorded it, ISO 8601 (UTC). */
  time: string;
  tenant: string;
  data: { room: string; user: string };
}

/**
 * The webhook event recorded from a presence frame published on `presence.<ns>.<room token>`
 * (the gateways' first join / last leave of a user in a room, and the sweeper's leaves of dead
 * connections: each decided once, cluster-wide, by the presence store). Undefined for anything else.
 */
export function eventFromPresenceMessage(subject: string, payload: Uint8Array, id: string, recordedAt: Date): WebhookEvent | undefined {
  const [prefix, ns, token, extra] = subject.split('.');
  if (prefix !== 'presence' || !ns || !token || extra !== undefined) return undefined;
  let frame: unknown;
  try {
    frame = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return undefined;
  }
  if (typeof frame !== 'object' || frame === null) return undefined;
  const { type, user } = frame as { type?: unknown; user?: unknown };
  if (typeof user !== 'string') return undefined;
  const eventType = type === 'presence.join' ? 'member.joined' : type === 'presence.leave' ? 'member.left' : undefined;
  if (!eventType) return undefined;
  return { id, type: eventType, time: recordedAt.toISOString(), tenant: ns, data: { room: fromSubjectToken(token), user } };
}

/** The ordering key: one room's events are delivered one after another. */
export const orderKey = (event: WebhookEvent) => `${event.tenant}\u0000${event.data.room}`;

import { Webhook } from 'standardwebhooks';
import type { components } from './generated/auth-api.ts';

export type WebhookEndpoint = components['schemas']['WebhookEndpoint'];
export type CreatedWebhookEndpoint = components['schemas']['CreatedWebhookEndpoint'];
export type WebhookEndpointRequest = components['schemas']['WebhookEndpointRequest'];
export type WebhookEndpointWithState = components['schemas']['WebhookEndpointWithState'];
export type WebhookEndpointState = components['schemas']['WebhookEndpointState'];
export type WebhookEndpointPatch = components['schemas']['WebhookEndpointPatch'];

/** What Parley POSTs to a webhook endpoint (the body, once verified). */
export interface ParleyWebhookEvent {
  /** Also the `webhook-id` header: the same on every retry; use it to ignore repeats. */
  id: string;
  type: 'room.occupied' | 'user.online' | 'member.joined' | 'member.left' | 'user.offline' | 'room.vacated' | 'message.published' | 'moderation.action';
  /** When Parley recorded the event (ISO 8601). */
  time: string;
  tenant: string;
  /**
   * `user` for member, user and message events; for `user.*`, `room` is the room whose join or
   * leave caused it. `message.published` adds the message: `msgId`, `ts` (ms since the epoch) and its `data`.
   * `moderation.action` adds `moderation`: the action's audit entry (`user` is its target, if any).
   */
  data: {
    room: string;
    user?: string;
    msgId?: string;
    ts?: number;
    data?: unknown;
    moderation?: { id: string; action: string; actor: string; ts: number; reason?: string; details?: Record<string, unknown> };
  };
}

/**
 * Checks a webhook request's Standard Webhooks signature (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature`) against the endpoint's secret and returns the event; throws when the
 * signature is wrong or the timestamp is more than 5 minutes off. Pass the raw body, unparsed.
 */
export function verifyWebhook(secret: string, rawBody: string | Uint8Array, headers: Record<string, string | string[] | undefined> | Headers): ParleyWebhookEvent {
  const flat: Record<string, string> = {};
  if (headers instanceof Headers) headers.forEach((value, name) => (flat[name] = value));
  else for (const [name, value] of Object.entries(headers)) if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  return new Webhook(secret).verify(rawBody, flat) as ParleyWebhookEvent;
}

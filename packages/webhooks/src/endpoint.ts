import { randomBytes } from 'node:crypto';
import { compileGrants, ROOM_PATTERN_SYNTAX } from '@parley/protocol';
import { z } from 'zod';
import { WEBHOOK_EVENT_TYPES, type WebhookEvent, type WebhookEventType } from './events.ts';

/** What a tenant registers: where to send which events. */
export const endpointInputSchema = z
  .object({
    url: z.string().max(2048),
    events: z.array(z.enum(WEBHOOK_EVENT_TYPES)).min(1).max(WEBHOOK_EVENT_TYPES.length),
    /** A room pattern (`*` matches any run of characters); events of other rooms are not sent. */
    rooms: z.string().regex(ROOM_PATTERN_SYNTAX, 'room pattern').optional(),
    enabled: z.boolean().default(true),
  })
  .strict();
export type EndpointInput = z.infer<typeof endpointInputSchema>;

export interface WebhookEndpoint {
  id: string;
  ns: string;
  url: string;
  events: WebhookEventType[];
  rooms?: string | undefined;
  enabled: boolean;
  /** `whsec_` + base64 of 32 random bytes (Standard Webhooks); shown once, when created. */
  secret: string;
  createdAt: string;
}

export const MAX_ENDPOINTS_PER_TENANT = 20;

export function newEndpoint(ns: string, input: EndpointInput, now = new Date()): WebhookEndpoint {
  return {
    id: `we_${randomBytes(9).toString('base64url')}`,
    ns,
    url: input.url,
    events: [...new Set(input.events)],
    ...(input.rooms !== undefined && { rooms: input.rooms }),
    enabled: input.enabled,
    secret: `whsec_${randomBytes(32).toString('base64')}`,
    createdAt: now.toISOString(),
  };
}

/** The endpoint without its secret, as every listing shows it. */
export function publicEndpoint({ secret: _secret, ...rest }: WebhookEndpoint): Omit<WebhookEndpoint, 'secret'> {
  return rest;
}

/** Compiled room filters by pattern (endpoints are few: at most 20 per tenant). */
const roomFilters = new Map<string, ReturnType<typeof compileGrants>>();
const MAX_CACHED_FILTERS = 10_000;

/** True when `endpoint` wants `event`. */
export function wants(endpoint: WebhookEndpoint, event: WebhookEvent): boolean {
  if (!endpoint.enabled || endpoint.ns !== event.tenant || !endpoint.events.includes(event.type)) return false;
  if (endpoint.rooms === undefined) return true;
  let filter = roomFilters.get(endpoint.rooms);
  if (!filter) {
    if (roomFilters.size >= MAX_CACHED_FILTERS) roomFilters.clear();
    roomFilters.set(endpoint.rooms, (filter = compileGrants({ [endpoint.rooms]: ['subscribe'] })));
  }
  return filter.allows(event.data.room, 'subscribe');
}

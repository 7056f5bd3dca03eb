import createClient, { type Client } from 'openapi-fetch';
import { unwrap } from './errors.ts';
import type { components, paths as AuthPaths } from './generated/auth-api.ts';
import type { paths as PresencePaths } from './generated/presence-api.ts';
import { tenantModeration, type ParleyModeration } from './moderation.ts';
import type { CreatedWebhookEndpoint, WebhookEndpoint, WebhookEndpointPatch, WebhookEndpointRequest, WebhookEndpointWithState } from './webhooks.ts';

export type TokenRequest = components['schemas']['TokenRequest'];
export type TokenResponse = components['schemas']['TokenResponse'];
export type WhoAmI = components['schemas']['WhoAmI'];
type PresenceJson<P extends keyof PresencePaths> = PresencePaths[P]['get']['responses'][200]['content']['application/json'];
export type RoomMembers = PresenceJson<'/v1/rooms/{room}/members'>;
export type RoomCount = PresenceJson<'/v1/rooms/{room}/count'>;
export type UserRooms = PresenceJson<'/v1/users/{user}/rooms'>;

export interface ParleyServerOptions {
  /** The auth service's base URL, e.g. `http://localhost:8080` (`npm start`) or the auth Service in Kubernetes. */
  url: string;
  /** The presence API's base URL. @default `url` (one process serves both) */
  presenceUrl?: string;
  /** The tenant's API key (`pk_<namespace>_…`); keep it on the server. */
  apiKey: string;
  /** Another `fetch` (a proxy agent, tests). @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** Names are path segments: openapi-fetch percent-encodes them. Moderation (`kick`, `ban`, `mute` …) is in `ParleyModeration`. */
export interface ParleyServer extends ParleyModeration {
  /** Mints a short-lived user token for one of your users, to hand to their client. */
  mintToken(request: TokenRequest): Promise<TokenResponse>;
  /** The tenant this API key belongs to. */
  whoami(): Promise<WhoAmI>;
  /** Publishes `data` (any JSON value) to a room, as the server (no user); resolves with its `msgId`. */
  publish(room: string, data: unknown): Promise<{ msgId: string }>;
  /** Sends `data` to every connection of one user. */
  direct(user: string, data: unknown): Promise<{ msgId: string }>;
  /** Closes every connection of a user (they may reconnect with a valid token). */
  disconnect(user: string, reason?: string): Promise<void>;
  /** Revokes every token of a user issued until now; their connections close. Resolves with the cut-off (unix seconds). */
  revoke(user: string): Promise<{ before: number }>;
  /** Who is in a room, with their connection counts and info. */
  members(room: string): Promise<RoomMembers>;
  /** How many users and connections a room has. */
  count(room: string): Promise<RoomCount>;
  /** The rooms a user is in. */
  rooms(user: string): Promise<UserRooms>;
  /** Registers a webhook endpoint; the answer holds its signing secret, once. */
  createWebhook(request: WebhookEndpointRequest): Promise<CreatedWebhookEndpoint>;
  /** The tenant's webhook endpoints (without secrets). */
  listWebhooks(): Promise<WebhookEndpoint[]>;
  /** One endpoint with its delivery state: last success, last failure and why, events in delivery. */
  getWebhook(id: string): Promise<WebhookEndpointWithState>;
  /** Changes `url`, `events`, `rooms` (null: every room) or `enabled` (true turns a disabled endpoint back on). */
  updateWebhook(id: string, patch: WebhookEndpointPatch): Promise<WebhookEndpoint>;
  deleteWebhook(id: string): Promise<void>;
}

/** A typed client of Parley's tenant APIs (auth and presence), authenticated with the tenant's API key. */
export function createParleyServer(options: ParleyServerOptions): ParleyServer {
  const common = { headers: { authorization: `Bearer ${options.apiKey}` }, ...(options.fetch && { fetch: options.fetch }) };
  const auth: Client<AuthPaths> = createClient<AuthPaths>({ baseUrl: trimSlash(options.url), ...common });
  const presence: Client<PresencePaths> = createClient<PresencePaths>({ baseUrl: trimSlash(options.presenceUrl ?? options.url), ...common });
  return {
    mintToken: async (body) => unwrap(await auth.POST('/v1/tokens', { body })),
    whoami: async () => unwrap(await auth.GET('/v1/whoami')),
    publish: async (room, data) => unwrap(await auth.POST('/v1/rooms/{room}/publish', { params: { path: { room } }, body: { data } })),
    direct: async (user, data) => unwrap(await auth.POST('/v1/users/{user}/direct', { params: { path: { user } }, body: { data } })),
    disconnect: async (user, reason) =>
      void unwrap(await auth.POST('/v1/users/{user}/disconnect', { params: { path: { user } }, body: reason === undefined ? {} : { reason } })),
    revoke: async (user) => unwrap(await auth.POST('/v1/users/{user}/revoke', { params: { path: { user } } })),
    members: async (room) => unwrap(await presence.GET('/v1/rooms/{room}/members', { params: { path: { room } } })),
    count: async (room) => unwrap(await presence.GET('/v1/rooms/{room}/count', { params: { path: { room } } })),
    rooms: async (user) => unwrap(await presence.GET('/v1/users/{user}/rooms', { params: { path: { user } } })),
    createWebhook: async (body) => unwrap(await auth.POST('/v1/webhooks', { body })),
    listWebhooks: async () => unwrap(await auth.GET('/v1/webhooks')).endpoints,
    getWebhook: async (id) => unwrap(await auth.GET('/v1/webhooks/{id}', { params: { path: { id } } })),
    updateWebhook: async (id, body) => unwrap(await auth.PATCH('/v1/webhooks/{id}', { params: { path: { id } }, body })),
    deleteWebhook: async (id) => void unwrap(await auth.DELETE('/v1/webhooks/{id}', { params: { path: { id } } })),
    ...tenantModeration(auth),
  };
}

export const trimSlash = (url: string) => url.replace(/\/+$/, '');

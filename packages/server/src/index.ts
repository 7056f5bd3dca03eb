export { createParleyServer, type ParleyServer, type ParleyServerOptions, type RoomCount, type RoomMembers, type TokenRequest, type TokenResponse, type UserRooms, type WhoAmI } from './tenant-client.ts';
export { createParleyAdmin, type ApiKeyInfo, type CreatedApiKey, type CreateTenantRequest, type ParleyAdmin, type ParleyAdminOptions, type Tenant, type UpdateTenantRequest } from './admin-client.ts';
export { ParleyApiError } from './errors.ts';
export type { AuditEntry, AuditPage, DeleteMessageRequest, ParleyModeration, RoomModeration, RoomRole, RoomSettings, RoomSettingsPatch, TimedModerationOptions } from './moderation.ts';
export type { paths as AuthApiPaths, components as AuthApiComponents } from './generated/auth-api.ts';
export type { paths as PresenceApiPaths } from './generated/presence-api.ts';
export {
  verifyWebhook,
  type CreatedWebhookEndpoint,
  type ParleyWebhookEvent,
  type WebhookEndpoint,
  type WebhookEndpointPatch,
  type WebhookEndpointRequest,
  type WebhookEndpointState,
  type WebhookEndpointWithState,
} from './webhooks.ts';

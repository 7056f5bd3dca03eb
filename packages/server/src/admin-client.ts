import createClient from 'openapi-fetch';
import { unwrap } from './errors.ts';
import type { components, paths } from './generated/auth-api.ts';
import { adminModeration, type ParleyModeration } from './moderation.ts';
import { trimSlash } from './tenant-client.ts';
import type { CreatedWebhookEndpoint, WebhookEndpoint, WebhookEndpointPatch, WebhookEndpointRequest, WebhookEndpointWithState } from './webhooks.ts';

export type Tenant = components['schemas']['Tenant'];
export type CreateTenantRequest = components['schemas']['CreateTenantRequest'];
export type UpdateTenantRequest = components['schemas']['UpdateTenantRequest'];
export type CreatedApiKey = components['schemas']['CreatedApiKey'];
export type ApiKeyInfo = components['schemas']['ApiKeyInfo'];

export interface ParleyAdminOptions {
  /** The auth service's base URL. */
  url: string;
  /** The operator's admin token (`PARLEY_ADMIN_TOKEN`). */
  adminToken: string;
  fetch?: typeof fetch;
}

/** The operator's API: tenants, their API keys, their webhook endpoints and the moderation of their rooms. */
export interface ParleyAdmin {
  createTenant(request: CreateTenantRequest): Promise<Tenant>;
  listTenants(): Promise<Tenant[]>;
  getTenant(ns: string): Promise<Tenant>;
  updateTenant(ns: string, request: UpdateTenantRequest): Promise<Tenant>;
  deleteTenant(ns: string): Promise<void>;
  /** Creates an API key; the key itself is in the answer only, once. */
  createApiKey(ns: string): Promise<CreatedApiKey>;
  listApiKeys(ns: string): Promise<ApiKeyInfo[]>;
  revokeApiKey(ns: string, keyId: string): Promise<void>;
  /** Registers a webhook endpoint for the tenant; the answer holds its signing secret, once. */
  createWebhook(ns: string, request: WebhookEndpointRequest): Promise<CreatedWebhookEndpoint>;
  listWebhooks(ns: string): Promise<WebhookEndpoint[]>;
  /** One endpoint with its delivery state. */
  getWebhook(ns: string, id: string): Promise<WebhookEndpointWithState>;
  updateWebhook(ns: string, id: string, patch: WebhookEndpointPatch): Promise<WebhookEndpoint>;
  deleteWebhook(ns: string, id: string): Promise<void>;
  /** Moderates the tenant's rooms as its backend would (audited as `$server`). */
  moderation(ns: string): ParleyModeration;
}

export function createParleyAdmin(options: ParleyAdminOptions): ParleyAdmin {
  const api = createClient<paths>({ baseUrl: trimSlash(options.url), headers: { authorization: `Bearer ${options.adminToken}` }, ...(options.fetch && { fetch: options.fetch }) });
  const ns = (value: string) => ({ params: { path: { ns: value } } });
  return {
    createTenant: async (body) => unwrap(await api.POST('/v1/admin/tenants', { body })),
    listTenants: async () => unwrap(await api.GET('/v1/admin/tenants')).tenants,
    getTenant: async (name) => unwrap(await api.GET('/v1/admin/tenants/{ns}', ns(name))),
    updateTenant: async (name, body) => unwrap(await api.PATCH('/v1/admin/tenants/{ns}', { ...ns(name), body })),
    deleteTenant: async (name) => void unwrap(await api.DELETE('/v1/admin/tenants/{ns}', ns(name))),
    createApiKey: async (name) => unwrap(await api.POST('/v1/admin/tenants/{ns}/keys', ns(name))),
    listApiKeys: async (name) => unwrap(await api.GET('/v1/admin/tenants/{ns}/keys', ns(name))).keys,
    revokeApiKey: async (name, keyId) => void unwrap(await api.DELETE('/v1/admin/tenants/{ns}/keys/{keyId}', { params: { path: { ns: name, keyId } } })),
    createWebhook: async (name, body) => unwrap(await api.POST('/v1/admin/tenants/{ns}/webhooks', { ...ns(name), body })),
    listWebhooks: async (name) => unwrap(await api.GET('/v1/admin/tenants/{ns}/webhooks', ns(name))).endpoints,
    getWebhook: async (name, id) => unwrap(await api.GET('/v1/admin/tenants/{ns}/webhooks/{id}', { params: { path: { ns: name, id } } })),
    updateWebhook: async (name, id, body) => unwrap(await api.PATCH('/v1/admin/tenants/{ns}/webhooks/{id}', { params: { path: { ns: name, id } }, body })),
    deleteWebhook: async (name, id) => void unwrap(await api.DELETE('/v1/admin/tenants/{ns}/webhooks/{id}', { params: { path: { ns: name, id } } })),
    moderation: (name) => adminModeration(api, name),
  };
}

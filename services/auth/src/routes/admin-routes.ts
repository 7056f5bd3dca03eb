import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { ParleyError } from '@parley/protocol';
import { createApiKey } from '../api-keys.ts';
import { applySettingsPatch, defaultTenantSettings, tenantSettingsPatchSchema } from '../settings.ts';
import type { Tenant } from '../store/tenant-store.ts';
import { requireAdmin } from './credentials.ts';
import type { AuthEnv, RouteDeps } from './route-context.ts';
import { apiKeyInfoSchema, errorResponses, keyParamSchema, namespaceSchema, nsParamSchema, tenantSchema } from './schemas.ts';

const createTenantBody = z
  .object({ ns: namespaceSchema, settings: tenantSettingsPatchSchema.optional() })
  .strict()
  .openapi('CreateTenantRequest');
const patchTenantBody = z.object({ settings: tenantSettingsPatchSchema }).strict().openapi('UpdateTenantRequest');
const createdKeySchema = apiKeyInfoSchema
  .extend({ ns: z.string(), key: z.string().openapi({ description: 'The API key. Shown only in this response; only its hash is stored.', example: 'pk_acme_Xy7Q…' }) })
  .openapi('CreatedApiKey');

/** The operator API: tenants and their API keys, behind the admin token. */
export function registerAdminRoutes(app: OpenAPIHono<AuthEnv>, deps: RouteDeps): void {
  app.use('/v1/admin/*', async (c, next) => {
    await next();
    deps.metrics.adminRequests.inc({ outcome: c.res.status < 400 ? 'ok' : (c.get('errorCode') ?? String(c.res.status)) });
  });
  const common = { security: [{ AdminToken: [] }], middleware: [requireAdmin(deps)], tags: ['admin'] };
  const mustGetTenant = async (ns: string): Promise<Tenant> => {
    const tenant = await deps.store.getTenant(ns);
    if (!tenant) throw new ParleyError('not_found', `tenant ${ns} does not exist`);
    return tenant;
  };

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/v1/admin/tenants',
      summary: 'Create a tenant',
      description: 'Settings not given take their defaults.',
      request: { body: { content: { 'application/json': { schema: createTenantBody } }, required: true } },
      responses: {
        201: { description: 'Created', content: { 'application/json': { schema: tenantSchema } } },
        ...errorResponses(400, 401, 409, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const at = new Date(deps.now()).toISOString();
      const tenant: Tenant = { ns: body.ns, settings: applySettingsPatch(defaultTenantSettings(), body.settings ?? {}), createdAt: at, updatedAt: at };
      await deps.store.createTenant(tenant);
      deps.logger.info({ ns: tenant.ns }, 'tenant created');
      return c.json(tenant, 201);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/v1/admin/tenants',
      summary: 'List tenants',
      responses: {
        200: { description: 'Every tenant, by namespace', content: { 'application/json': { schema: z.object({ tenants: z.array(tenantSchema) }) } } },
        ...errorResponses(401, 429, 503),
      },
    }),
    async (c) => c.json({ tenants: await deps.store.listTenants() }, 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/v1/admin/tenants/{ns}',
      summary: 'Get a tenant',
      request: { params: nsParamSchema },
      responses: {
        200: { description: 'The tenant', content: { 'application/json': { schema: tenantSchema } } },
        ...errorResponses(400, 401, 404, 429, 503),
      },
    }),
    async (c) => c.json(await mustGetTenant(c.req.valid('param').ns), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'patch',
      path: '/v1/admin/tenants/{ns}',
      summary: "Update a tenant's settings",
      description: 'Only the settings given change (`history` field by field). Applies to tokens minted afterwards.',
      request: { params: nsParamSchema, body: { content: { 'application/json': { schema: patchTenantBody } }, required: true } },
      responses: {
        200: { description: 'The updated tenant', content: { 'application/json': { schema: tenantSchema } } },
        ...errorResponses(400, 401, 404, 429, 503),
      },
    }),
    async (c) => {
      const { ns } = c.req.valid('param');
      const { settings } = c.req.valid('json');
      const current = await mustGetTenant(ns);
      const tenant: Tenant = { ...current, settings: applySettingsPatch(current.settings, settings), updatedAt: new Date(deps.now()).toISOString() };
      if (!(await deps.store.replaceTenant(tenant))) throw new ParleyError('not_found', `tenant ${ns} does not exist`);
      deps.logger.info({ ns }, 'tenant updated');
      return c.json(tenant, 200);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'delete',
      path: '/v1/admin/tenants/{ns}',
      summary: 'Delete a tenant and its API keys',
      description: 'Its keys stop working at once; tokens already minted stay valid until they expire.',
      request: { params: nsParamSchema },
      responses: { 204: { description: 'Deleted' }, ...errorResponses(400, 401, 404, 429, 503) },
    }),
    async (c) => {
      const { ns } = c.req.valid('param');
      if (!(await deps.store.deleteTenant(ns))) throw new ParleyError('not_found', `tenant ${ns} does not exist`);
      deps.logger.info({ ns }, 'tenant deleted');
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/v1/admin/tenants/{ns}/keys',
      summary: 'Create an API key',
      description: 'The key is in this response only; store it in the tenant backend’s secrets.',
      request: { params: nsParamSchema },
      responses: {
        201: { description: 'Created', content: { 'application/json': { schema: createdKeySchema } } },
        ...errorResponses(400, 401, 404, 429, 503),
      },
    }),
    async (c) => {
      const { ns } = c.req.valid('param');
      await mustGetTenant(ns);
      const { key, record } = await createApiKey(deps.store, ns, new Date(deps.now()));
      deps.logger.info({ ns, keyId: record.id }, 'API key created');
      return c.json({ id: record.id, ns, prefix: record.prefix, createdAt: record.createdAt, key }, 201);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/v1/admin/tenants/{ns}/keys',
      summary: "List a tenant's API keys",
      request: { params: nsParamSchema },
      responses: {
        200: { description: 'Keys, oldest first (never the keys themselves)', content: { 'application/json': { schema: z.object({ keys: z.array(apiKeyInfoSchema) }) } } },
        ...errorResponses(400, 401, 404, 429, 503),
      },
    }),
    async (c) => {
      const { ns } = c.req.valid('param');
      await mustGetTenant(ns);
      const keys = await deps.store.listApiKeys(ns);
      return c.json({ keys: keys.map(({ id, prefix, createdAt }) => ({ id, prefix, createdAt })) }, 200);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'delete',
      path: '/v1/admin/tenants/{ns}/keys/{keyId}',
      summary: 'Revoke an API key',
      description: 'Effective at once: the next request with the key is refused.',
      request: { params: keyParamSchema },
      responses: { 204: { description: 'Revoked' }, ...errorResponses(400, 401, 404, 429, 503) },
    }),
    async (c) => {
      const { ns, keyId } = c.req.valid('param');
      if (!(await deps.store.deleteApiKey(ns, keyId))) throw new ParleyError('not_found', `tenant ${ns} has no API key ${keyId}`);
      deps.logger.info({ ns, keyId }, 'API key revoked');
      return c.body(null, 204);
    },
  );
}

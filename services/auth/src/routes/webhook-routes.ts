import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { ParleyError } from '@parley/protocol';
import { endpointInputSchema, MAX_ENDPOINTS_PER_TENANT, newEndpoint, publicEndpoint, refusalOf, WEBHOOK_EVENT_TYPES, type EndpointStateStore, type EndpointStore, type UrlPolicy } from '@parley/webhooks';
import { requireAdmin, requireApiKey } from './credentials.ts';
import type { AuthEnv, RouteDeps } from './route-context.ts';
import { errorResponses, namespaceSchema, nsParamSchema } from './schemas.ts';

/** Where a tenant's webhook endpoints are kept, and which URLs the operator allows. */
export interface WebhookRouteDeps {
  endpoints: EndpointStore;
  policy: UrlPolicy;
  /** What the dispatchers report of each endpoint; without it `state` is absent from `GET /v1/webhooks/{id}`. */
  states?: EndpointStateStore;
}

const endpointSchema = z
  .object({
    id: z.string().openapi({ example: 'we_3kT9xYv2QmZp' }),
    ns: namespaceSchema,
    url: z.string().openapi({ example: 'https://backend.example.com/parley-events' }),
    events: z.array(z.enum(WEBHOOK_EVENT_TYPES)),
    rooms: z.string().optional().openapi({ description: 'Room pattern (`*` matches any run of characters); absent: every room' }),
    enabled: z.boolean().openapi({ description: 'False after an event could not be delivered within the retry period (24 h by default), or when turned off: `PATCH` it back on' }),
    createdAt: z.string(),
  })
  .openapi('WebhookEndpoint');
const createdEndpointSchema = endpointSchema
  .extend({ secret: z.string().openapi({ description: 'Standard Webhooks signing secret (`whsec_…`): shown once, keep it' }) })
  .openapi('CreatedWebhookEndpoint');
const endpointRequestSchema = z
  .object({
    url: z.string().max(2048).openapi({ example: 'https://backend.example.com/parley-events' }),
    events: z.array(z.enum(WEBHOOK_EVENT_TYPES)).min(1).openapi({ example: ['member.joined', 'member.left'] }),
    rooms: z.string().optional().openapi({ example: 'support-*' }),
    enabled: z.boolean().optional(),
  })
  .strict()
  .openapi('WebhookEndpointRequest');
const endpointPatchSchema = z
  .object({
    url: z.string().max(2048).optional(),
    events: z.array(z.enum(WEBHOOK_EVENT_TYPES)).min(1).optional(),
    rooms: z.string().nullable().optional().openapi({ description: 'A room pattern, or null for every room' }),
    enabled: z.boolean().optional().openapi({ description: 'true turns a disabled endpoint back on (events of the time it was off are not sent)' }),
  })
  .strict()
  .openapi('WebhookEndpointPatch');
const endpointStateSchema = z
  .object({
    lastSuccessAt: z.string().optional().openapi({ description: 'The last delivery the endpoint answered with 2xx (ISO 8601)' }),
    lastFailureAt: z.string().optional().openapi({ description: 'The last failed attempt (ISO 8601); it is retried with backoff' }),
    lastError: z.string().optional().openapi({ description: 'Why the last attempt failed: `HTTP <status>`, `timeout`, a connection error, a refused address', example: 'HTTP 503' }),
    pending: z.number().int().openapi({ description: 'Events being delivered or retried to it now, at most one per room (later events of those rooms wait behind them)' }),
  })
  .openapi('WebhookEndpointState');
const endpointWithStateSchema = endpointSchema.extend({ state: endpointStateSchema.optional() }).openapi('WebhookEndpointWithState');
const idParam = z.object({ id: z.string().max(64).openapi({ param: { name: 'id', in: 'path' }, example: 'we_3kT9xYv2QmZp' }) });

/** Where a set of webhook routes lives and who may use it. */
interface WebhookScope {
  /** `/v1/webhooks` (the tenant, with its API key) or `/v1/admin/tenants/{ns}/webhooks` (the operator). */
  base: string;
  params: typeof nsParamSchema | undefined;
  common: { security: Array<Record<string, string[]>>; middleware: MiddlewareHandler[]; tags: string[] };
  /** The namespace the request acts on; the tenant must exist. */
  nsOf(c: Context<AuthEnv>): Promise<string>;
  errors: ErrorStatus[];
}

type ErrorStatus = Parameters<typeof errorResponses>[number];

/**
 * Webhook endpoints: a tenant manages its own with its API key (`/v1/webhooks`), the operator any
 * tenant's with the admin token (`/v1/admin/tenants/{ns}/webhooks`). Events are signed per
 * Standard Webhooks with the endpoint's secret, which only the creating answer shows.
 */
export function registerWebhookRoutes(app: OpenAPIHono<AuthEnv>, deps: RouteDeps, webhooks: WebhookRouteDeps | undefined): void {
  const store = () => {
    if (!webhooks) throw new ParleyError('unavailable', 'webhooks are not available here: auth runs without JetStream (NATS_URL with JetStream enabled)');
    return webhooks;
  };
  registerScope(app, deps, store, {
    base: '/v1/webhooks',
    params: undefined,
    common: { security: [{ ApiKey: [] }], middleware: [requireApiKey(deps) as MiddlewareHandler], tags: ['webhooks'] },
    nsOf: async (c) => c.get('ns'),
    errors: [401, 429, 503],
  });
  registerScope(app, deps, store, {
    base: '/v1/admin/tenants/{ns}/webhooks',
    params: nsParamSchema,
    common: { security: [{ AdminToken: [] }], middleware: [requireAdmin(deps)], tags: ['admin'] },
    nsOf: async (c) => {
      const ns = c.req.param('ns') ?? '';
      if (!(await deps.store.getTenant(ns))) throw new ParleyError('not_found', `tenant ${ns} does not exist`);
      return ns;
    },
    errors: [400, 401, 404, 429, 503],
  });
}

function registerScope(app: OpenAPIHono<AuthEnv>, deps: RouteDeps, store: () => WebhookRouteDeps, scope: WebhookScope): void {
  const { common } = scope;
  const withId = scope.params ? scope.params.extend(idParam.shape) : idParam;
  const errors = (...codes: ErrorStatus[]) => errorResponses(...[...new Set([...codes, ...scope.errors])].sort());
  const requestParams = scope.params ? { params: scope.params } : {};

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: scope.base,
      summary: 'Register a webhook endpoint',
      description: `Parley POSTs the chosen events to \`url\`, signed per Standard Webhooks (\`webhook-id\`, \`webhook-timestamp\`, \`webhook-signature\`). \`url\` must be https and resolve to a public address unless the operator allows otherwise. At most ${MAX_ENDPOINTS_PER_TENANT} endpoints per tenant.`,
      request: { ...requestParams, body: { content: { 'application/json': { schema: endpointRequestSchema } }, required: true } },
      responses: {
        201: { description: 'Created; the answer holds the signing secret, once', content: { 'application/json': { schema: createdEndpointSchema } } },
        ...errors(400, 409),
      },
    }),
    async (c) => {
      const { endpoints, policy } = store();
      const ns = await scope.nsOf(c);
      const parsed = endpointInputSchema.safeParse(c.req.valid('json'));
      if (!parsed.success) throw new ParleyError('bad_frame', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      const refusal = await refusalOf(parsed.data.url, policy);
      if (refusal) throw new ParleyError('webhook_url_refused', `the webhook URL is not allowed: ${refusal}`);
      if ((await endpoints.list(ns)).length >= MAX_ENDPOINTS_PER_TENANT) throw new ParleyError('too_many_webhooks', `a tenant has at most ${MAX_ENDPOINTS_PER_TENANT} webhook endpoints`);
      const endpoint = newEndpoint(ns, parsed.data, new Date(deps.now()));
      await endpoints.put(endpoint);
      deps.logger.info({ ns, endpoint: endpoint.id, events: endpoint.events }, 'webhook endpoint registered');
      return c.json({ ...publicEndpoint(endpoint), secret: endpoint.secret }, 201);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: scope.base,
      summary: "The tenant's webhook endpoints (without secrets)",
      request: requestParams,
      responses: {
        200: { description: 'Oldest first', content: { 'application/json': { schema: z.object({ endpoints: z.array(endpointSchema) }) } } },
        ...errors(),
      },
    }),
    async (c) => c.json({ endpoints: (await store().endpoints.list(await scope.nsOf(c))).map(publicEndpoint) }, 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: `${scope.base}/{id}`,
      summary: 'One webhook endpoint (without its secret), with its delivery state',
      description: 'The delivery state is what the dispatchers report, about once a second: the last success, the last failure and its reason, and the events in delivery. An endpoint that failed for the whole retry period is `enabled: false`.',
      request: { params: withId },
      responses: {
        200: { description: 'The endpoint', content: { 'application/json': { schema: endpointWithStateSchema } } },
        ...errors(400, 404),
      },
    }),
    async (c) => {
      const { endpoints, states } = store();
      const ns = await scope.nsOf(c);
      const id = endpointId(c.req.param('id') ?? '');
      const endpoint = await endpoints.get(ns, id);
      if (!endpoint) throw new ParleyError('not_found', `no webhook endpoint ${id}`);
      return c.json({ ...publicEndpoint(endpoint), ...(states && { state: await states.read(ns, id) }) }, 200);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'patch',
      path: `${scope.base}/{id}`,
      summary: 'Change a webhook endpoint',
      description: 'Any of `url`, `events`, `rooms` (null: every room) and `enabled`; the secret stays. Turning an endpoint back on sends the events that happen from then on.',
      request: { params: withId, body: { content: { 'application/json': { schema: endpointPatchSchema } }, required: true } },
      responses: {
        200: { description: 'The endpoint as changed', content: { 'application/json': { schema: endpointSchema } } },
        ...errors(400, 404),
      },
    }),
    async (c) => {
      const { endpoints, policy } = store();
      const ns = await scope.nsOf(c);
      const id = endpointId(c.req.param('id') ?? '');
      const current = await endpoints.get(ns, id);
      if (!current) throw new ParleyError('not_found', `no webhook endpoint ${id}`);
      const patch = c.req.valid('json');
      const parsed = endpointInputSchema.safeParse({
        url: patch.url ?? current.url,
        events: patch.events ?? current.events,
        ...(patch.rooms === undefined ? current.rooms !== undefined && { rooms: current.rooms } : patch.rooms !== null && { rooms: patch.rooms }),
        enabled: patch.enabled ?? current.enabled,
      });
      if (!parsed.success) throw new ParleyError('bad_frame', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      if (patch.url !== undefined) {
        const refusal = await refusalOf(parsed.data.url, policy);
        if (refusal) throw new ParleyError('webhook_url_refused', `the webhook URL is not allowed: ${refusal}`);
      }
      const { rooms: _rooms, ...kept } = current;
      const changed = { ...kept, url: parsed.data.url, events: [...new Set(parsed.data.events)], enabled: parsed.data.enabled, ...(parsed.data.rooms !== undefined && { rooms: parsed.data.rooms }) };
      await endpoints.put(changed);
      deps.logger.info({ ns, endpoint: id, events: changed.events, enabled: changed.enabled }, 'webhook endpoint changed');
      return c.json(publicEndpoint(changed), 200);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'delete',
      path: `${scope.base}/{id}`,
      summary: 'Remove a webhook endpoint',
      description: 'Events not yet delivered to it are dropped.',
      request: { params: withId },
      responses: { 204: { description: 'Removed' }, ...errors(400, 404) },
    }),
    async (c) => {
      const ns = await scope.nsOf(c);
      const id = endpointId(c.req.param('id') ?? '');
      const { endpoints, states } = store();
      if (!(await endpoints.delete(ns, id))) throw new ParleyError('not_found', `no webhook endpoint ${id}`);
      await states?.forget(ns, id).catch((error: unknown) => deps.logger.warn({ err: (error as Error).message, ns, endpoint: id }, 'webhook endpoint state not dropped'));
      deps.logger.info({ ns, endpoint: id }, 'webhook endpoint removed');
      return c.body(null, 204);
    },
  );
}

/** Ids are `we_` + base64url; anything else names no endpoint (and is no valid bucket key). */
function endpointId(id: string): string {
  if (!/^we_[A-Za-z0-9_-]{1,32}$/.test(id)) throw new ParleyError('not_found', 'no such webhook endpoint');
  return id;
}

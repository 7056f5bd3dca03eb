import { createRoute, type OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { createModerator, type ModerationActor, type ModerationContext, type ModerationRequest, type ModerationStore, type Moderator } from '@parley/moderation';
import { ParleyError, encodeControlMessage, subjects } from '@parley/protocol';
import { showsModerators } from '../settings.ts';
import type { Tenant } from '../store/tenant-store.ts';
import { requireAdmin, requireApiKey } from './credentials.ts';
import {
  auditPageSchema,
  auditQuerySchema,
  deleteMessageBody,
  describeRoom,
  entryResponseSchema,
  kickBody,
  kickResponseSchema,
  roleBody,
  roomModerationSchema,
  roomSettingsPatchSchema,
  settingsResponseSchema,
  timedActionBody,
} from './moderation-schemas.ts';
import type { AuthEnv, RouteDeps } from './route-context.ts';
import { errorResponses, nsParamSchema, roomParamSchema, userParamSchema } from './schemas.ts';

/** Where rooms' moderation state and the audit log are kept; without it the moderation routes answer 503. */
export interface ModerationRouteDeps {
  store: ModerationStore;
  /** Deletes a stored message of a tenant with history (the history store's `delete`); without it a delete by `seq` answers 503 `history_unavailable`. */
  deleteStored?: (ns: string, room: string, seq: number) => Promise<boolean>;
}

export const NO_MODERATION_STORE = 'this auth process has no moderation store: set PARLEY_MODERATION_REDIS_URL to the Redis the gateways use';

/** The tenant's backend and the operator act alike: above every room role, named `$server` in the audit log. */
const SERVER: ModerationActor = { kind: 'server' };

type ErrorStatus = Parameters<typeof errorResponses>[number];

/** Where a set of moderation routes lives and who may use it. */
interface ModerationScope {
  /** `/v1/rooms/{room}` (the tenant, with its API key) or `/v1/admin/tenants/{ns}/rooms/{room}` (the operator). */
  roomBase: string;
  auditPath: string;
  nsParams: typeof nsParamSchema | undefined;
  security: Array<Record<string, string[]>>;
  tags: string[];
  /** The route's middleware; `op` names it in the request counter. */
  middleware(op: string): MiddlewareHandler[];
  /** The tenant the request acts on: the API key's, or the path's, which must exist. */
  tenantOf(c: Context<AuthEnv>): Promise<Tenant>;
  errors: ErrorStatus[];
}

/**
 * Moderation through the server API: a tenant's backend moderates its own rooms with its API key
 * (`/v1/rooms/{room}/…`, `/v1/moderation/audit`), the operator any tenant's with the admin token
 * (the same under `/v1/admin/tenants/{ns}`). Every action goes through the moderator: stored,
 * audited, announced to the gateways (a `moderation` control message) and to the room's members.
 */
export function registerModerationRoutes(app: OpenAPIHono<AuthEnv>, deps: RouteDeps, moderation: ModerationRouteDeps | undefined): void {
  const moderator = moderation
    ? createModerator({
        store: moderation.store,
        bus: deps.bus,
        ...(moderation.deleteStored && { deleteStored: moderation.deleteStored }),
        counted: (action) => deps.metrics.moderationActions.inc({ action }),
        now: deps.now,
      })
    : undefined;
  const apiKey = requireApiKey(deps) as MiddlewareHandler;
  const count =
    (op: string): MiddlewareHandler =>
    async (c, next) => {
      await next();
      deps.metrics.serverRequests.inc({ op, outcome: String(c.res.status) });
    };
  const admin = requireAdmin(deps);

  registerScope(app, deps, moderation?.store, moderator, {
    roomBase: '/v1/rooms/{room}',
    auditPath: '/v1/moderation/audit',
    nsParams: undefined,
    security: [{ ApiKey: [] }],
    tags: ['moderation'],
    middleware: (op) => [count(op), apiKey],
    tenantOf: async (c) => c.get('tenant'),
    errors: [401, 429, 503],
  });
  registerScope(app, deps, moderation?.store, moderator, {
    roomBase: '/v1/admin/tenants/{ns}/rooms/{room}',
    auditPath: '/v1/admin/tenants/{ns}/moderation/audit',
    nsParams: nsParamSchema,
    security: [{ AdminToken: [] }],
    tags: ['admin'],
    middleware: () => [admin],
    tenantOf: async (c) => {
      const ns = c.req.param('ns') ?? '';
      const tenant = await deps.store.getTenant(ns);
      if (!tenant) throw new ParleyError('not_found', `tenant ${ns} does not exist`);
      return tenant;
    },
    errors: [400, 401, 404, 429, 503],
  });
}

function registerScope(app: OpenAPIHono<AuthEnv>, deps: RouteDeps, store: ModerationStore | undefined, moderator: Moderator | undefined, scope: ModerationScope): void {
  const errors = (...codes: ErrorStatus[]) => errorResponses(...[...new Set([...codes, ...scope.errors])].sort());
  const roomParams = scope.nsParams ? scope.nsParams.extend(roomParamSchema.shape) : roomParamSchema;
  const userParams = roomParams.extend(userParamSchema.shape);
  const route = (op: string) => ({ security: scope.security, tags: scope.tags, middleware: scope.middleware(op) });
  const required = () => {
    if (!store || !moderator) throw new ParleyError('moderation_unavailable', NO_MODERATION_STORE);
    return { store, moderator };
  };
  const contextOf = (tenant: Tenant): ModerationContext => ({ history: tenant.settings.history.enabled, showModerators: showsModerators(tenant.settings) });

  /** An action on a room: 200 with its audit entry. */
  const action = <B extends z.ZodType = z.ZodUndefined>(spec: {
    method: 'post' | 'put' | 'patch' | 'delete';
    path: string;
    op: string;
    summary: string;
    description?: string;
    user?: boolean;
    body?: B;
    errors?: ErrorStatus[];
    request(input: { user: string; body: z.infer<B> }): ModerationRequest;
    response?: z.ZodType;
    respond?(result: Awaited<ReturnType<Moderator['act']>>): object;
  }) =>
    app.openapi(
      createRoute({
        ...route(spec.op),
        method: spec.method,
        path: `${scope.roomBase}${spec.path}`,
        summary: spec.summary,
        ...(spec.description !== undefined && { description: spec.description }),
        request: { params: spec.user ? userParams : roomParams, ...(spec.body && { body: { content: { 'application/json': { schema: spec.body } }, required: true } }) },
        responses: {
          200: { description: 'Applied: stored, audited, announced to the gateways and the room', content: { 'application/json': { schema: spec.response ?? entryResponseSchema } } },
          ...errors(400, 403, ...(spec.errors ?? [])),
        },
      }),
      async (c) => {
        const { moderator } = required();
        const tenant = await scope.tenantOf(c);
        const params = validated(c, 'param') as { room: string; user?: string };
        const body = (spec.body ? validated(c, 'json') : undefined) as z.infer<B>;
        const result = await moderator.act(tenant.ns, params.room, SERVER, spec.request({ user: params.user ?? '', body }), contextOf(tenant));
        return c.json(spec.respond ? spec.respond(result) : { entry: result.entry }, 200);
      },
    );

  app.openapi(
    createRoute({
      ...route('moderation'),
      method: 'get',
      path: `${scope.roomBase}/moderation`,
      summary: "A room's moderation state",
      description: 'Its settings, the bans and mutes in force, the invited users and the per-room roles.',
      request: { params: roomParams },
      responses: { 200: { description: 'The room now', content: { 'application/json': { schema: roomModerationSchema } } }, ...errors(400) },
    }),
    async (c) => {
      const { store } = required();
      const tenant = await scope.tenantOf(c);
      const { room } = validated(c, 'param') as { room: string };
      return c.json(describeRoom(await store.room(tenant.ns, room)), 200);
    },
  );

  action({
    method: 'patch',
    path: '/settings',
    op: 'settings',
    summary: "Change a room's settings",
    description: 'Only the settings given change: `inviteOnly`, `readOnly`, `slowModeSeconds` (0: off), `maxMembers` (0: no limit). Members get a `room.settings` event.',
    body: roomSettingsPatchSchema,
    request: ({ body }) => {
      if (Object.keys(body).length === 0) throw new ParleyError('bad_frame', 'give at least one setting');
      return { action: 'settings', settings: body };
    },
    response: settingsResponseSchema,
    respond: ({ settings, entry }) => ({ settings, entry }),
  });
  action({
    method: 'post',
    path: '/bans',
    op: 'ban',
    summary: 'Ban a user from a room',
    description: 'The user leaves the room on every gateway and cannot join it again until the ban ends (`seconds`) or is lifted. Members get `member.banned`.',
    body: timedActionBody,
    request: ({ body }) => ({ action: 'ban', user: body.user, seconds: body.seconds, reason: body.reason }),
  });
  action({ method: 'delete', path: '/bans/{user}', op: 'unban', user: true, summary: 'Lift a ban', request: ({ user }) => ({ action: 'unban', user }) });
  action({
    method: 'post',
    path: '/mutes',
    op: 'mute',
    summary: 'Mute a user in a room',
    description: 'The user stays in the room but cannot publish to it until the mute ends (`seconds`) or is lifted. Members get `member.muted`.',
    body: timedActionBody,
    request: ({ body }) => ({ action: 'mute', user: body.user, seconds: body.seconds, reason: body.reason }),
  });
  action({ method: 'delete', path: '/mutes/{user}', op: 'unmute', user: true, summary: 'Lift a mute', request: ({ user }) => ({ action: 'unmute', user }) });
  action({
    method: 'put',
    path: '/invites/{user}',
    op: 'invite',
    user: true,
    summary: 'Invite a user to a room',
    description: 'In an invite-only room, only invited users and moderators may join.',
    request: ({ user }) => ({ action: 'invite', user }),
  });
  action({
    method: 'delete',
    path: '/invites/{user}',
    op: 'uninvite',
    user: true,
    summary: 'Withdraw an invitation',
    description: 'In an invite-only room the user also leaves it.',
    request: ({ user }) => ({ action: 'uninvite', user }),
  });
  action({
    method: 'put',
    path: '/roles/{user}',
    op: 'role',
    user: true,
    summary: "Set a user's role in a room",
    description: 'Owners and moderators may moderate the room from their clients; a moderator cannot act on an owner. A token\'s `moderate` grant also makes a moderator.',
    body: roleBody,
    request: ({ user, body }) => ({ action: 'role', user, role: body.role }),
  });
  action({ method: 'delete', path: '/roles/{user}', op: 'role', user: true, summary: "Remove a user's role in a room", request: ({ user }) => ({ action: 'role', user, role: null }) });
  action({
    method: 'post',
    path: '/messages/delete',
    op: 'delete',
    summary: 'Delete a message',
    description:
      'By `seq` (tenants with history): the stored message is removed, so `history` and resumes no longer return it; 404 when the room has no such stored message, 404 `history_disabled` for a tenant without history. By `msgId` (any tenant): members are told to drop it. Members get `message.deleted`.',
    body: deleteMessageBody,
    errors: [404],
    request: ({ body }) => ({ action: 'delete', seq: body.seq, msgId: body.msgId, reason: body.reason }),
  });

  app.openapi(
    createRoute({
      ...route('kick'),
      method: 'post',
      path: `${scope.roomBase}/kick`,
      summary: 'Remove a user from a room',
      description: 'The user leaves the room on every gateway (they may join again: ban them to keep them out). Audited, and members get `member.kicked`, when auth has a moderation store.',
      request: { params: roomParams, body: { content: { 'application/json': { schema: kickBody } }, required: true } },
      responses: { 202: { description: 'Accepted by the bus', content: { 'application/json': { schema: kickResponseSchema } } }, ...errors(400) },
    }),
    async (c) => {
      const tenant = await scope.tenantOf(c);
      const { room } = validated(c, 'param') as { room: string };
      const { user, reason } = validated(c, 'json') as z.infer<typeof kickBody>;
      if (!moderator) {
        // Without a moderation store a kick still works as it always did, unaudited.
        await publishControl(deps, tenant.ns, encodeControlMessage({ op: 'kick', user, room }));
        return c.json({}, 202);
      }
      const { entry } = await moderator.act(tenant.ns, room, SERVER, { action: 'kick', user, reason }, contextOf(tenant));
      return c.json({ entry }, 202);
    },
  );

  app.openapi(
    createRoute({
      ...route('audit'),
      method: 'get',
      path: scope.auditPath,
      summary: "The tenant's moderation audit log",
      description: 'Every moderation action, oldest first: who (`actor`), what, on whom, when and why. The log keeps the latest 10,000 entries per tenant.',
      request: { ...(scope.nsParams && { params: scope.nsParams }), query: auditQuerySchema },
      responses: { 200: { description: 'A page of entries', content: { 'application/json': { schema: auditPageSchema } } }, ...errors(400) },
    }),
    async (c) => {
      const { store } = required();
      const tenant = await scope.tenantOf(c);
      const { after, limit } = validated(c, 'query') as z.infer<typeof auditQuerySchema>;
      // One more than asked tells whether another page follows.
      const entries = await store.audit(tenant.ns, { after, limit: limit + 1 });
      const page = entries.slice(0, limit);
      return c.json({ entries: page, ...(entries.length > limit && { next: page.at(-1)!.id }) }, 200);
    },
  );
}

/** The validated part of a request: these routes are built by helpers, so Hono cannot type it for them. */
function validated(c: Context, target: 'param' | 'json' | 'query'): unknown {
  return (c.req as unknown as { valid(target: string): unknown }).valid(target);
}

async function publishControl(deps: RouteDeps, ns: string, bytes: Uint8Array): Promise<void> {
  try {
    await deps.bus.publish(subjects.control(ns), bytes);
  } catch (error) {
    throw error instanceof ParleyError ? error : new ParleyError('unavailable', undefined, { cause: error });
  }
}

import { OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Registry } from 'prom-client';
import type { Bus } from '@parley/bus';
import { tracingMiddleware, type Logger, type Tracer } from '@parley/observability';
import type { PresenceStore } from '@parley/presence-store';
import { ERRORS, ParleyError, errorBody, type ErrorCode } from '@parley/protocol';
import { createFailureLimiter, type FailureLimiterOptions } from '@parley/tokens';
import { authenticate, type PresenceEnv } from './auth-middleware.ts';
import type { ApiKeyVerifier, UserTokenVerifier } from './credentials.ts';
import { createPresenceMetrics } from './metrics.ts';
import { registerOperationRoutes } from './routes/operation-routes.ts';
import { registerQueryRoutes } from './routes/query-routes.ts';

export const DEFAULT_PRESENCE_PORT = 8082;
/** @default 1000: how long `/readyz` waits for the store. */
export const DEFAULT_READY_TIMEOUT_MS = 1000;

export const OPENAPI_INFO = {
  title: 'Parley presence API',
  version: '1',
  description:
    'Who is online, per room and per user (presence plane of Parley). Authenticate with `Authorization: Bearer <tenant API key>` (the whole namespace) or `Bearer <user token>` (rooms where the token has the `presence` grant). Room and user names are path segments: percent-encode them. Errors are `{ code, message, temporary }`.',
};

export interface PresenceAppDeps {
  store: PresenceStore;
  /** Reported by `/readyz`; the app itself does not publish (the sweeper does). */
  bus: Bus;
  verifyApiKey: ApiKeyVerifier;
  verifyUserToken: UserTokenVerifier;
  logger: Logger;
  /** Served at `/metrics`; the sweeper should get the same one. */
  registry: Registry;
  /** OpenTelemetry tracer for request spans; none when tracing is off. */
  tracer?: Tracer;
}

export interface PresenceAppOptions {
  /** @default 1000 */
  readyTimeoutMs?: number;
  /**
   * The address of the client: failed user tokens are limited per client here, and it is passed
   * on with API-key checks so that auth limits failed keys per client. @default the node-server socket address (`c.env.incoming.socket.remoteAddress`), else 'unknown'
   */
  getClientIp?: (c: Context) => string;
  /** Tenant names in `/metrics` (`PARLEY_METRICS_TENANT_LABELS`). @default false */
  metricsTenantLabels?: boolean;
  /** Failed user tokens a client address may present. @default 10 at once, then one per 5 s */
  failureLimit?: FailureLimiterOptions;
}

export interface PresenceApp {
  /** The Hono app; `app.fetch(request)` is all a host server needs. */
  app: OpenAPIHono<PresenceEnv>;
  /** The OpenAPI 3.1 document generated from the route schemas. */
  openApiDocument(): object;
  /** Marks the service as shutting down (`/readyz` answers 503). Does not close the deps. */
  close(): Promise<void>;
}

/**
 * Builds the presence service's HTTP app: room members and counts, a user's rooms, health,
 * readiness and metrics. No side effects: nothing listens and no timer starts.
 */
export function createPresenceApp(deps: PresenceAppDeps, options: PresenceAppOptions = {}): PresenceApp {
  const metrics = createPresenceMetrics(deps.registry, deps.store);
  let closing = false;
  const app = new OpenAPIHono<PresenceEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.target, result.error);
    },
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'Bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'A tenant API key (`pk_<ns>_…`) or a Parley user token (JWT).',
  });

  app.use('*', tracingMiddleware(deps.tracer));
  app.use('/v1/*', async (c, next) => {
    await next();
    metrics.requests.inc({ route: routeLabel(c.req.path), status: String(c.res.status) });
  });
  app.use(
    '/v1/*',
    authenticate({
      verifyApiKey: deps.verifyApiKey,
      verifyUserToken: deps.verifyUserToken,
      getClientIp: options.getClientIp ?? socketClientIp,
      limiter: createFailureLimiter(options.failureLimit),
      onUserTokenFailure: () => metrics.userTokenFailures.inc(),
    }),
  );
  registerQueryRoutes(app, { store: deps.store, metrics });
  registerOperationRoutes(app, {
    store: deps.store,
    bus: deps.bus,
    registry: deps.registry,
    metrics,
    readyTimeoutMs: options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
    metricsTenantLabels: options.metricsTenantLabels ?? false,
    isClosing: () => closing,
  });
  app.get('/openapi.json', (c) => c.json(openApiDocument()));

  app.notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404));
  app.onError((error, c) => {
    const { code, message } = toParleyError(error, deps.logger);
    if (code === 'presence_unavailable') metrics.redisUp.set(0);
    return c.json(errorBody(code, message), ERRORS[code].http as ContentfulStatusCode);
  });

  const openApiDocument = () => app.getOpenAPI31Document({ openapi: '3.1.0', info: OPENAPI_INFO });
  return {
    app,
    openApiDocument,
    async close() {
      closing = true;
    },
  };
}

/** The peer address of a request served by `@hono/node-server`; never `X-Forwarded-For` (anyone can write it). */
export function socketClientIp(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}

/** A bounded label: the route template, never the room or user in the path. */
function routeLabel(path: string): string {
  if (/^\/v1\/rooms\/[^/]+\/members$/.test(path)) return '/v1/rooms/{room}/members';
  if (/^\/v1\/rooms\/[^/]+\/count$/.test(path)) return '/v1/rooms/{room}/count';
  if (/^\/v1\/users\/[^/]+\/rooms$/.test(path)) return '/v1/users/{user}/rooms';
  return 'other';
}

function toParleyError(error: Error, logger: Logger): { code: ErrorCode; message: string } {
  if (error instanceof ParleyError) return { code: error.code, message: error.message };
  logger.error({ err: error }, 'unhandled error in the presence API');
  return { code: 'internal', message: ERRORS.internal.message };
}

function validationError(target: string, error: z.ZodError): ParleyError {
  const field = error.issues[0]?.path[0];
  const code: ErrorCode = field === 'room' ? 'invalid_room' : field === 'user' ? 'invalid_user' : 'bad_frame';
  return new ParleyError(code, `invalid ${target}: ${error.issues.map((i) => `${i.path.join('.') || target}: ${i.message}`).slice(0, 3).join('; ')}`);
}

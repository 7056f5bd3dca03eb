import { OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { JSONWebKeySet } from 'jose';
import { Registry } from 'prom-client';
import type { Bus } from '@parley/bus';
import { tracingMiddleware, type Logger, type Tracer } from '@parley/observability';
import { ERRORS, ParleyError, errorBody, type ErrorCode } from '@parley/protocol';
import { createFailureLimiter, type FailureLimiterOptions } from '@parley/tokens';
import { createAuthMetrics } from './auth-metrics.ts';
import { socketClientIp } from './client-ip.ts';
import type { SigningKeys } from './keys/signing-keys.ts';
import { registerAdminRoutes } from './routes/admin-routes.ts';
import { registerModerationRoutes, type ModerationRouteDeps } from './routes/moderation-routes.ts';
import { registerPublicRoutes } from './routes/public-routes.ts';
import { RetryLaterError, type AuthEnv, type RouteDeps } from './routes/route-context.ts';
import { registerServerRoutes } from './routes/server-routes.ts';
import { registerWebhookRoutes, type WebhookRouteDeps } from './routes/webhook-routes.ts';
import { registerTokenRoutes } from './routes/token-routes.ts';
import type { TenantStore } from './store/tenant-store.ts';

/** Largest request body accepted (server-API payloads are further capped by the tenant's `maxFrameBytes`). */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;
/** Shortest admin token accepted: it guards every tenant. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;
export const OPENAPI_INFO = {
  title: 'Parley auth API',
  version: '1',
  description:
    'Tenants, API keys and user tokens (control plane of Parley). Tenant backends use `Authorization: Bearer <API key>`; operators use `Authorization: Bearer <admin token>`. Errors are `{ code, message, temporary }`.',
};

export interface AuthAppDeps {
  store: TenantStore;
  keys: SigningKeys;
  /** Where server-API messages and control messages go (`subjects.room/user/control`). */
  bus: Bus;
  logger: Logger;
  /** Registry for the service's metrics, served at `/metrics`. @default a new, private registry */
  metrics?: Registry;
  /** OpenTelemetry tracer for request spans (token minting among them); none when tracing is off. */
  tracer?: Tracer;
  /** Webhook endpoints (a JetStream bucket, or memory in one process); without it `/v1/webhooks` answers 503. */
  webhooks?: WebhookRouteDeps;
  /** Rooms' moderation state and the audit log (Redis shared with the gateways, or the embedded file); without it the moderation routes answer 503. */
  moderation?: ModerationRouteDeps;
}

export interface AuthAppOptions {
  /** `PARLEY_ADMIN_TOKEN`; without it the admin API refuses every request. At least 16 characters. */
  adminToken?: string;
  /**
   * The client address the failed-credential limiter counts by.
   * @default the node-server socket address (`c.env.incoming.socket.remoteAddress`), else 'unknown'
   */
  getClientIp?: (c: Context) => string;
  /** Failed API-key / admin-token attempts allowed per client address. */
  failureLimit?: FailureLimiterOptions;
  /** @default 262144 */
  maxBodyBytes?: number;
  /** Tenant names in `/metrics` (`PARLEY_METRICS_TENANT_LABELS`). @default false */
  metricsTenantLabels?: boolean;
  /** Live user revocations a tenant may hold (`PARLEY_MAX_REVOCATIONS_PER_TENANT`). @default 10000 */
  maxRevocationsPerTenant?: number;
  /** Clock in milliseconds (tests). @default Date.now */
  now?: () => number;
}

export interface AuthApp {
  /** The Hono app; `app.fetch(request)` is all a host server needs. */
  app: OpenAPIHono<AuthEnv>;
  /** The published key set (same as `GET /.well-known/jwks.json`). */
  jwks(): JSONWebKeySet;
  /** The OpenAPI 3.1 document generated from the route schemas. */
  openApiDocument(): object;
  /** Marks the service as shutting down (`/readyz` answers 503). Does not close the deps. */
  close(): Promise<void>;
}

/**
 * Builds the auth service's HTTP app: JWKS, user tokens, the server API for tenant backends, the
 * admin API, health and metrics. No side effects: nothing listens and no timer starts.
 */
export function createAuthApp(deps: AuthAppDeps, options: AuthAppOptions = {}): AuthApp {
  if (options.adminToken !== undefined && options.adminToken.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new Error(`the admin token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`);
  }
  const registry = deps.metrics ?? new Registry();
  let closing = false;
  const routeDeps: RouteDeps = {
    store: deps.store,
    keys: deps.keys,
    bus: deps.bus,
    logger: deps.logger,
    metrics: createAuthMetrics(registry),
    limiter: createFailureLimiter({ ...options.failureLimit, ...(options.now && { now: options.now }) }),
    getClientIp: options.getClientIp ?? socketClientIp,
    adminToken: options.adminToken,
    now: options.now ?? Date.now,
    isClosing: () => closing,
    ...(options.maxRevocationsPerTenant !== undefined && { maxRevocationsPerTenant: options.maxRevocationsPerTenant }),
  };

  const app = new OpenAPIHono<AuthEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.target, result.error);
    },
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'ApiKey', {
    type: 'http',
    scheme: 'bearer',
    description: "A tenant API key (`pk_<ns>_…`); it decides the request's namespace.",
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'AdminToken', {
    type: 'http',
    scheme: 'bearer',
    description: 'The operator token (`PARLEY_ADMIN_TOKEN`).',
  });

  app.use('*', tracingMiddleware(deps.tracer));
  app.use(
    '*',
    bodyLimit({
      maxSize: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      onError: (c) => c.json(errorBody('frame_too_large', 'the request body is too large'), 413),
    }),
  );
  registerPublicRoutes(app, routeDeps, registry, options.metricsTenantLabels ?? false);
  registerTokenRoutes(app, routeDeps);
  registerServerRoutes(app, routeDeps);
  registerWebhookRoutes(app, routeDeps, deps.webhooks);
  registerAdminRoutes(app, routeDeps);
  // After the admin routes, so that their request counter wraps the operator's moderation routes too.
  registerModerationRoutes(app, routeDeps, deps.moderation);
  app.get('/openapi.json', (c) => c.json(openApiDocument()));

  app.notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404));
  app.onError((error, c) => {
    const { code, message } = toParleyError(error, deps.logger);
    c.set('errorCode', code);
    if (error instanceof RetryLaterError) c.header('Retry-After', String(error.retryAfterSeconds));
    return c.json(errorBody(code, message), ERRORS[code].http as ContentfulStatusCode);
  });

  const openApiDocument = () => app.getOpenAPI31Document({ openapi: '3.1.0', info: OPENAPI_INFO });

  return {
    app,
    jwks: () => deps.keys.jwks(),
    openApiDocument,
    async close() {
      closing = true;
    },
  };
}

function toParleyError(error: Error, logger: Logger): { code: ErrorCode; message: string } {
  if (error instanceof ParleyError) return { code: error.code, message: error.message };
  if (error instanceof HTTPException) {
    // Raised by Hono's validators before our schemas run.
    if (error.status === 400) return { code: 'bad_json', message: 'the request body is not valid JSON' };
    if (error.status === 415) return { code: 'bad_frame', message: 'send the body as JSON with Content-Type: application/json' };
  }
  logger.error({ err: error }, 'unhandled error in the auth API');
  return { code: 'internal', message: ERRORS.internal.message };
}

/** Maps a schema failure to the most precise protocol code, naming the first few issues. */
function validationError(target: string, error: z.ZodError): ParleyError {
  const first = error.issues[0];
  const field = first?.path[0];
  const code: ErrorCode = field === 'room' ? 'invalid_room' : field === 'user' ? 'invalid_user' : 'bad_frame';
  const detail = error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : target}: ${issue.message}`)
    .join('; ');
  return new ParleyError(code, `invalid ${target === 'json' ? 'body' : target}: ${detail}`);
}

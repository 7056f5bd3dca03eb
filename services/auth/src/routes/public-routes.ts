import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Registry } from 'prom-client';
import { renderMetrics } from '@parley/observability';
import type { AuthEnv, RouteDeps } from './route-context.ts';

/** How long gateways and proxies may cache the JWKS (seconds). The rotation procedure waits longer. */
export const JWKS_CACHE_MAX_AGE_SECONDS = 300;
/** How long `/readyz` waits for the store before calling it unavailable. */
export const READY_CHECK_TIMEOUT_MS = 1000;

const jwkSchema = z
  .object({ kty: z.string(), kid: z.string(), alg: z.string(), use: z.string(), crv: z.string(), x: z.string(), y: z.string().optional() })
  .openapi('PublicJwk');

/** JWKS, health, readiness and metrics: no credentials. */
export function registerPublicRoutes(app: OpenAPIHono<AuthEnv>, deps: RouteDeps, registry: Registry, tenantLabels: boolean): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/.well-known/jwks.json',
      tags: ['keys'],
      summary: 'Public keys that verify user tokens',
      description: 'Every loaded signing key, active or not, so tokens signed before a rotation keep verifying. Match on the token header `kid`.',
      responses: {
        200: { description: 'The JSON Web Key Set', content: { 'application/json': { schema: z.object({ keys: z.array(jwkSchema) }).openapi('Jwks') } } },
      },
    }),
    (c) => {
      c.header('Cache-Control', `public, max-age=${JWKS_CACHE_MAX_AGE_SECONDS}`);
      return c.json(deps.keys.jwks() as { keys: Array<z.infer<typeof jwkSchema>> }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/healthz',
      tags: ['operations'],
      summary: 'Liveness',
      responses: { 200: { description: 'The process serves requests', content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } } } },
    }),
    (c) => c.json({ status: 'ok' as const }, 200),
  );

  const readiness = z.object({ ready: z.boolean(), reason: z.string().optional(), bus: z.string() }).openapi('Readiness');
  app.openapi(
    createRoute({
      method: 'get',
      path: '/readyz',
      tags: ['operations'],
      summary: 'Readiness',
      description: 'Ready when the tenant store answers and the service is not shutting down. The bus state is reported; server-API calls fail with 503 while it is down.',
      responses: {
        200: { description: 'Ready', content: { 'application/json': { schema: readiness } } },
        503: { description: 'Not ready', content: { 'application/json': { schema: readiness } } },
      },
    }),
    async (c) => {
      const bus = deps.bus.state;
      if (deps.isClosing()) return c.json({ ready: false, reason: 'shutting down', bus }, 503);
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          deps.store.ping(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('timed out')), READY_CHECK_TIMEOUT_MS);
          }),
        ]);
      } catch (error) {
        return c.json({ ready: false, reason: `tenant store: ${(error as Error).message}`, bus }, 503);
      } finally {
        clearTimeout(timer);
      }
      return c.json({ ready: true, bus }, 200);
    },
  );

  app.get('/metrics', async (c) => {
    c.header('Content-Type', registry.contentType);
    return c.body(await renderMetrics(registry, { tenantLabels }), 200);
  });
}

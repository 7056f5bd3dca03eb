import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Registry } from 'prom-client';
import type { Bus } from '@parley/bus';
import { renderMetrics } from '@parley/observability';
import type { PresenceStore } from '@parley/presence-store';
import type { PresenceEnv } from '../auth-middleware.ts';
import type { PresenceMetrics } from '../metrics.ts';

export interface OperationDeps {
  store: PresenceStore;
  bus: Bus;
  registry: Registry;
  metrics: PresenceMetrics;
  readyTimeoutMs: number;
  /** Tenant names in `/metrics` (off: they are summed away). */
  metricsTenantLabels: boolean;
  isClosing(): boolean;
}

/** Health, readiness and metrics: no credentials. */
export function registerOperationRoutes(app: OpenAPIHono<PresenceEnv>, deps: OperationDeps): void {
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

  const readiness = z
    .object({ ready: z.boolean(), reason: z.string().optional(), store: z.enum(['up', 'down']), bus: z.string() })
    .openapi('Readiness');
  app.openapi(
    createRoute({
      method: 'get',
      path: '/readyz',
      tags: ['operations'],
      summary: 'Readiness',
      description: 'Ready when the presence store (Redis) answers and the service is not shutting down. The bus state is reported: while it is down, swept leaves wait for it.',
      responses: {
        200: { description: 'Ready', content: { 'application/json': { schema: readiness } } },
        503: { description: 'Not ready', content: { 'application/json': { schema: readiness } } },
      },
    }),
    async (c) => {
      const bus = deps.bus.state;
      let timer: NodeJS.Timeout | undefined;
      const up = await Promise.race([
        (deps.store.ping?.() ?? Promise.resolve()).then(() => true, () => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(resolve, deps.readyTimeoutMs, false))),
      ]);
      clearTimeout(timer);
      deps.metrics.redisUp.set(up ? 1 : 0);
      const store = up ? ('up' as const) : ('down' as const);
      if (deps.isClosing()) return c.json({ ready: false, reason: 'shutting down', store, bus }, 503);
      if (!up) return c.json({ ready: false, reason: 'the presence store does not answer', store, bus }, 503);
      return c.json({ ready: true, store, bus }, 200);
    },
  );

  app.get('/metrics', async (c) => {
    const body = await renderMetrics(deps.registry, { tenantLabels: deps.metricsTenantLabels });
    return c.body(body, 200, { 'content-type': deps.registry.contentType });
  });
}

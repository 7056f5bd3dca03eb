import { serve } from '@hono/node-server';
import { createTracedBus } from '@parley/bus';
import { ensureControlStream } from '@parley/bus/nats';
import { openBus } from '@parley/bus/open';
import { openHistoryStore } from '@parley/history/open';
import { openModerationStore } from '@parley/moderation/open';
import { createKvEndpointStateStore, createKvEndpointStore, urlPolicyFromEnv } from '@parley/webhooks';
import { readFederationConfig, remoteHistoryRegion } from '@parley/federation';
import { createLogger, createMetricsRegistry, initTracing, readTracingConfig, registerBusMetrics, startMetricsServer } from '@parley/observability';
import { createAuthApp } from './app.ts';
import { createClientIpResolver } from './client-ip.ts';
import { readAuthConfig } from './config.ts';
import { ensureDemoTenant } from './demo-tenant.ts';
import { loadSigningKeys } from './keys/signing-keys.ts';
import { createFileTenantStore } from './store/file-tenant-store.ts';
import { createRedisTenantStore } from './store/redis-tenant-store.ts';
import type { TenantStore } from './store/tenant-store.ts';

const config = readAuthConfig(process.env);
const logger = createLogger('auth', { level: config.logLevel });
const registry = createMetricsRegistry('auth');
const tracing = await initTracing('auth', readTracingConfig(process.env));

const store: TenantStore = config.redisUrl
  ? await createRedisTenantStore({ url: config.redisUrl, onError: (error) => logger.warn({ err: error.message }, 'tenant store (Redis) connection error') })
  : await createFileTenantStore({ dataDir: config.dataDir });
const keys = await loadSigningKeys({
  ...(config.signingKeysDir !== undefined && { dir: config.signingKeysDir }),
  ...(config.activeKeyId !== undefined && { activeKeyId: config.activeKeyId }),
  dataDir: config.dataDir,
});
const { bus, nats: natsBus } = await openBus({ natsUrl: config.natsUrl, name: 'parley-auth', logger });
// Federation: webhook endpoints live in the history region's JetStream, shared by every region.
const federation = readFederationConfig(process.env);
const sharedDomain = remoteHistoryRegion(federation);
// Keeps control messages so that gateways started later still refuse revoked tokens.
if (natsBus) await ensureControlStream(natsBus.raw).catch((error: unknown) => logger.warn({ err: error }, 'no JetStream: revocations reach only the gateways running when they are made'));
registerBusMetrics(registry, bus);
const webhookEndpoints = natsBus
  ? await createKvEndpointStore(natsBus.raw, { domain: sharedDomain }).catch((error: unknown) => {
      logger.warn({ err: (error as Error).message }, 'no JetStream: the webhook endpoint API answers 503');
      return undefined;
    })
  : undefined;
const webhookStates = natsBus && webhookEndpoints ? await createKvEndpointStateStore(natsBus.raw, { domain: sharedDomain }).catch(() => undefined) : undefined;
// Moderation state is shared with the gateways: only a Redis URL makes it so (a store in this
// process's memory would be one the gateways never read).
const moderation = config.moderationRedisUrl ? openModerationStore({ redisUrl: config.moderationRedisUrl }) : undefined;
moderation?.redis?.on('error', (error: Error) => logger.warn({ err: error.message }, 'moderation store (Redis) connection error'));
// Deleting a stored message needs the tenants' history, which is in JetStream when NATS is configured.
const history = natsBus ? await openHistoryStore({ bus, nats: natsBus, logger, federation }) : undefined;
if (!moderation) logger.warn('PARLEY_MODERATION_REDIS_URL is not set: the moderation API answers 503 and kicks are not audited');
if (!config.natsUrl) logger.warn('NATS_URL is not set: using the in-memory bus; server-API messages reach no gateway in another process');
if (!config.adminToken) logger.warn('PARLEY_ADMIN_TOKEN is not set: the admin API refuses every request');

if (config.demoTenant) {
  const demo = await ensureDemoTenant(store, {
    namespace: config.demoNamespace,
    ...(config.demoApiKey !== undefined && { apiKey: config.demoApiKey }),
    dataDir: config.dataDir,
  });
  if (demo.created) logger.info({ ns: config.demoNamespace }, 'demo tenant created');
  // The one place a key is printed: a generated demo key, when it is generated. Later starts
  // only say where it is kept (mode 0600, demo tenant only).
  if (demo.keyCreated && config.demoApiKey === undefined && demo.apiKey) {
    process.stdout.write(`\nDemo tenant "${config.demoNamespace}" API key (generated now; kept in ${demo.apiKeyFile}):\n\n  ${demo.apiKey}\n\n`);
  } else if (demo.apiKeyFile) {
    logger.info({ ns: config.demoNamespace, file: demo.apiKeyFile }, 'demo API key kept in the data directory');
  }
}

const auth = createAuthApp(
  {
    store,
    keys,
    bus: createTracedBus(bus, { tracer: tracing.tracer }),
    logger,
    metrics: registry,
    tracer: tracing.tracer,
    ...(moderation && { moderation: { store: moderation.store, ...(history && { deleteStored: (ns: string, room: string, seq: number) => history.delete(ns, room, seq) }) } }),
    ...(webhookEndpoints && { webhooks: { endpoints: webhookEndpoints, policy: urlPolicyFromEnv(process.env), ...(webhookStates && { states: webhookStates }) } }),
  },
  { ...(config.adminToken !== undefined && { adminToken: config.adminToken }), getClientIp: createClientIpResolver(config.trustedProxies), maxRevocationsPerTenant: config.maxRevocationsPerTenant, metricsTenantLabels: config.metricsTenantLabels },
);
const metricsServer = config.metricsPort === undefined ? undefined : await startMetricsServer({ host: config.host, port: config.metricsPort, registry });
const server = serve({ fetch: auth.app.fetch, port: config.port, hostname: config.host }, (info) => {
  logger.info(
    { port: info.port, store: config.redisUrl ? 'redis' : 'file', bus: config.natsUrl ? 'nats' : 'memory', activeKid: keys.active.kid, kids: keys.all.map((k) => k.kid) },
    `auth listening on http://${config.host}:${info.port}`,
  );
});

let stopping = false;
const shutdown = async (signal: NodeJS.Signals) => {
  if (stopping) process.exit(1);
  stopping = true;
  logger.info({ signal, drainMs: config.drainMs }, 'shutting down');
  await auth.close();
  await new Promise((resolve) => setTimeout(resolve, config.drainMs));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await Promise.allSettled([moderation?.store.close(), history?.close()]);
  if (moderation?.owned) moderation.redis?.disconnect();
  await Promise.allSettled([bus.close(), store.close(), tracing.shutdown(), metricsServer?.close()]);
  process.exit(0);
};
process.on('SIGTERM', (s) => void shutdown(s));
process.on('SIGINT', (s) => void shutdown(s));

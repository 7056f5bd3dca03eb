import { serve } from '@hono/node-server';
import { createTracedBus } from '@parley/bus';
import { createNatsBus } from '@parley/bus/nats';
import { createLogger, createMetricsRegistry, initTracing, readTracingConfig, registerBusMetrics, registerRedisMetrics, startMetricsServer } from '@parley/observability';
import { createPresenceRedisClient, createRedisPresenceStore } from '@parley/presence-store/redis';
import { createClientAddressResolver } from '@parley/config';
import { createPresenceApp, socketClientIp } from './app.ts';
import { readPresenceConfig } from './config.ts';
import { createAuthServiceKeyVerifier, createJwksUserTokenVerifier } from './credentials.ts';
import { createPresenceMetrics } from './metrics.ts';
import { createSweeper } from './sweeper.ts';
import { federatePresence, readFederationConfig, watchLeafLinks } from '@parley/federation';

const config = readPresenceConfig(process.env);
const federation = readFederationConfig(process.env);
const logger = createLogger('presence', { level: config.logLevel });
const registry = createMetricsRegistry('presence');
const metrics = createPresenceMetrics(registry);
const tracing = await initTracing('presence', { ...readTracingConfig(process.env), instanceId: config.instanceId });

const redis = createPresenceRedisClient(config.redisUrl);
redis.on('ready', () => {
  metrics.redisUp.set(1);
  logger.info('presence store (Redis) connected');
});
redis.on('close', () => metrics.redisUp.set(0));
registerRedisMetrics(registry, redis, 'presence');
const store = createRedisPresenceStore(redis, {
  ttlMs: config.presenceTtlMs,
  onError: (error) => {
    metrics.redisErrors.inc();
    logger.warn({ err: error.message }, 'presence store (Redis) error');
  },
});
const natsBus = await createNatsBus({ servers: config.natsUrl.split(','), name: `presence-${config.instanceId}`, logger });
registerBusMetrics(registry, natsBus);
const bus = createTracedBus(natsBus, { tracer: tracing.tracer });

// Queries answer for every region; the sweeper sweeps this region's store only.
const federated = federation ? federatePresence(store, natsBus.raw, federation, { registry, logger }) : undefined;
// Inter-region traffic, as this region's NATS server counts it on its leaf node links.
const leafLinks = federation && config.natsMonitorUrl ? watchLeafLinks(config.natsMonitorUrl, registry, { logger }) : undefined;
const clientAddress = createClientAddressResolver(config.trustedProxies);
const presence = createPresenceApp(
  {
    store: federated?.store ?? store,
    bus,
    verifyApiKey: createAuthServiceKeyVerifier(config.authUrl),
    verifyUserToken: createJwksUserTokenVerifier(config.jwksUrl),
    logger,
    registry,
    tracer: tracing.tracer,
  },
  { getClientIp: (c) => clientAddress(socketClientIp(c), c.req.header('x-forwarded-for')), metricsTenantLabels: config.metricsTenantLabels },
);
const metricsServer = config.metricsPort === undefined ? undefined : await startMetricsServer({ host: config.host, port: config.metricsPort, registry });
const sweeper = createSweeper({ store, bus, logger, registry }, { intervalMs: config.sweepMs, originId: `presence-${config.instanceId}` });
sweeper.start();

const server = serve({ fetch: presence.app.fetch, port: config.port, hostname: config.host }, (info) => {
  logger.info({ port: info.port, ttlMs: config.presenceTtlMs, sweepMs: config.sweepMs }, `presence listening on http://${config.host}:${info.port}`);
});

let stopping = false;
const shutdown = async (signal: NodeJS.Signals) => {
  if (stopping) process.exit(1);
  stopping = true;
  logger.info({ signal }, 'shutting down');
  await presence.close();
  await sweeper.stop();
  federated?.close();
  leafLinks?.stop();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await Promise.allSettled([bus.close(), store.close(), tracing.shutdown(), metricsServer?.close()]);
  process.exit(0);
};
process.on('SIGTERM', (s) => void shutdown(s));
process.on('SIGINT', (s) => void shutdown(s));

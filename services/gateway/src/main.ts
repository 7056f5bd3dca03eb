import { createRemoteJWKSet } from 'jose';
import { Redis } from 'ioredis';
import { createMemoryBus, createNatsBus, type Bus } from '@parley/bus';
import { createLogger, createMetricsRegistry } from '@parley/observability';
import { createMemoryPresenceStore, createRedisPresenceStore, type PresenceStore } from '@parley/presence-store';
import { createGateway } from './app.ts';
import { readGatewayConfig } from './config.ts';
import { createTokenVerifier } from './domain/token-verifier.ts';
import { installSignalHandlers } from './signals.ts';

const config = readGatewayConfig(process.env);
const logger = createLogger('gateway', { level: config.logLevel });
const registry = createMetricsRegistry('gateway');

const bus: Bus = config.natsUrl ? await createNatsBus({ servers: config.natsUrl.split(','), name: `gateway-${config.gatewayId}`, logger }) : createMemoryBus();
const presence: PresenceStore = config.redisUrl
  ? createRedisPresenceStore(new Redis(config.redisUrl, { enableOfflineQueue: false, commandTimeout: 1000, maxRetriesPerRequest: 1 }), { ttlMs: config.presenceTtlMs })
  : createMemoryPresenceStore({ ttlMs: config.presenceTtlMs });
if (!config.natsUrl) logger.warn('NATS_URL is not set: using the in-memory bus; this gateway cannot reach others');

const keys = createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 600_000 });
const gateway = createGateway(
  { bus, presence, verifyToken: createTokenVerifier(keys), logger, registry },
  { gatewayId: config.gatewayId, host: config.host, port: config.port, maxPayloadBytes: config.maxPayloadBytes, drainMs: config.drainMs, presenceHeartbeatMs: Math.floor(config.presenceTtlMs / 3) },
);
await gateway.listen();
logger.info({ port: gateway.port, gatewayId: config.gatewayId, bus: config.natsUrl ? 'nats' : 'memory', presence: config.redisUrl ? 'redis' : 'memory' }, `gateway listening on ${gateway.url}`);

installSignalHandlers(async () => {
  await gateway.drain();
  await Promise.allSettled([bus.close(), presence.close()]);
}, logger);

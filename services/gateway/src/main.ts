import { Redis } from 'ioredis';
import { createMemoryBus, createNatsBus, createTracedBus, readControlLog, type Bus } from '@parley/bus';
import { createJetStreamHistoryStore, createMemoryHistoryStore, type HistoryStore } from '@parley/history';
import { createLogger, createMetricsRegistry, initTracing, readTracingConfig, registerBusMetrics, registerRedisMetrics } from '@parley/observability';
import { createMemoryPresenceStore, createRedisPresenceStore, type PresenceStore } from '@parley/presence-store';
import { createGateway } from './app.ts';
import { readGatewayConfig } from './config.ts';
import { createTokenVerifier } from './domain/token-verifier.ts';
import { createJwksKeyGetter, isKeySet } from '@parley/tokens';
import { readFileSync } from 'node:fs';
import { installSignalHandlers } from './signals.ts';

const config = readGatewayConfig(process.env);

/** `PARLEY_JWKS_FILE`: a key set to verify with until auth answers (a copy of its /.well-known/jwks.json). */
function readKeySetFile(path: string) {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`PARLEY_JWKS_FILE: cannot read a JSON key set from ${path}: ${(error as Error).message}`);
  }
  if (!isKeySet(parsed)) throw new Error(`PARLEY_JWKS_FILE: ${path} is not a key set ({"keys": [ ... ]} with at least one key)`);
  return parsed;
}
const logger = createLogger('gateway', { level: config.logLevel });
const registry = createMetricsRegistry('gateway');
const tracing = await initTracing('gateway', { ...readTracingConfig(process.env), instanceId: config.gatewayId });

const natsBus = config.natsUrl ? await createNatsBus({ servers: config.natsUrl.split(','), name: `gateway-${config.gatewayId}`, logger }) : undefined;
const bus: Bus = natsBus ?? createMemoryBus();
const redis = config.redisUrl ? new Redis(config.redisUrl, { enableOfflineQueue: false, commandTimeout: 1000, maxRetriesPerRequest: 1 }) : undefined;
const presence: PresenceStore = redis
  ? createRedisPresenceStore(redis, { ttlMs: config.presenceTtlMs })
  : createMemoryPresenceStore({ ttlMs: config.presenceTtlMs });
registerBusMetrics(registry, bus);
if (redis) registerRedisMetrics(registry, redis, 'presence');
if (!config.natsUrl) logger.warn('NATS_URL is not set: using the in-memory bus; this gateway cannot reach others');

let history: HistoryStore;
if (natsBus) {
  const jetstream = createJetStreamHistoryStore(natsBus.raw, { logger, replicas: config.historyReplicas });
  const check = await jetstream.probe();
  if (!check.ok) logger.warn({ reason: check.reason }, 'JetStream is not available: tenants with history will fail and make this gateway unready');
  history = jetstream;
} else history = createMemoryHistoryStore({ bus });

const keys = createJwksKeyGetter(config.jwksUrl, {
  maxAgeMs: config.jwksMaxAgeMs,
  cooldownMs: config.jwksCooldownMs,
  ...(config.jwksFile && { initial: readKeySetFile(config.jwksFile) }),
  logger,
});
// Not awaited: the gateway starts (and says it is not ready) while auth is down; the fetch is retried.
void keys.refresh();
const gateway = createGateway(
  { bus: createTracedBus(bus, { tracer: tracing.tracer }), presence, history, verifyToken: createTokenVerifier(keys), tokenKeys: keys, logger, registry },
  { gatewayId: config.gatewayId, host: config.host, port: config.port, maxPayloadBytes: config.maxPayloadBytes, drainMs: config.drainMs, presenceHeartbeatMs: Math.floor(config.presenceTtlMs / 3) },
);
if (natsBus) {
  // Revocations made before this gateway started (kept by the control stream when NATS has JetStream).
  const past = await readControlLog(natsBus.raw).catch((error: unknown) => {
    logger.warn({ err: error }, 'control log unavailable: past revocations are not known to this gateway');
    return [];
  });
  for (const message of past) gateway.core.applyControl(message);
}
await gateway.listen();
logger.info({ port: gateway.port, gatewayId: config.gatewayId, bus: config.natsUrl ? 'nats' : 'memory', presence: config.redisUrl ? 'redis' : 'memory' }, `gateway listening on ${gateway.url}`);

installSignalHandlers(async () => {
  await gateway.drain();
  await Promise.allSettled([history.close(), bus.close(), presence.close()]);
  await tracing.shutdown();
}, logger);

import { createTracedBus } from '@parley/bus';
import { readControlLog } from '@parley/bus/nats';
import { openBus } from '@parley/bus/open';
import { openHistoryStore } from '@parley/history/open';
import { createLogger, createMetricsRegistry, initTracing, readTracingConfig, registerBusMetrics, registerRedisMetrics } from '@parley/observability';
import { openPresenceStore } from '@parley/presence-store/open';
import { openModerationStore } from '@parley/moderation/open';
import { createRedisTicketStore } from './adapters/redis-ticket-store.ts';
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

const { bus, nats: natsBus } = await openBus({ natsUrl: config.natsUrl, name: `gateway-${config.gatewayId}`, logger });
const { store: presence, redis } = openPresenceStore({
  redisUrl: config.redisUrl,
  ttlMs: config.presenceTtlMs,
});
// Moderation lives in the same Redis as presence (auth reaches it through PARLEY_MODERATION_REDIS_URL).
const { store: moderation } = openModerationStore({ redis });
registerBusMetrics(registry, bus);
if (redis) registerRedisMetrics(registry, redis, 'presence');
if (!config.natsUrl) logger.warn('NATS_URL is not set: using the in-memory bus; this gateway cannot reach others');

const history = await openHistoryStore({ bus, nats: natsBus, replicas: config.historyReplicas, logger });

const keys = createJwksKeyGetter(config.jwksUrl, {
  maxAgeMs: config.jwksMaxAgeMs,
  cooldownMs: config.jwksCooldownMs,
  ...(config.jwksFile && { initial: readKeySetFile(config.jwksFile) }),
  logger,
});
// Not awaited: the gateway starts (and says it is not ready) while auth is down; the fetch is retried.
void keys.refresh();
const gateway = createGateway(
  { bus: createTracedBus(bus, { tracer: tracing.tracer }), presence, history, moderation, ...(redis && { tickets: createRedisTicketStore(redis) }), verifyToken: createTokenVerifier(keys), tokenKeys: keys, logger, registry },
  { gatewayId: config.gatewayId, host: config.host, port: config.port, maxPayloadBytes: config.maxPayloadBytes, compression: config.wsCompression, sse: config.sse, drainMs: config.drainMs, maxRevocationsPerTenant: config.maxRevocationsPerTenant, metricsTenantLabels: config.metricsTenantLabels, ...(config.metricsPort !== undefined && { metricsPort: config.metricsPort }), presenceHeartbeatMs: Math.floor(config.presenceTtlMs / 3) },
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

import { createTracedBus } from '@parley/bus';
import { readControlLog } from '@parley/bus/nats';
import { openBus } from '@parley/bus/open';
import { openHistoryStore } from '@parley/history/open';
import { createLogger, createMetricsRegistry, initTracing, readTracingConfig, registerBusMetrics, registerRedisMetrics } from '@parley/observability';
import { openPresenceStore } from '@parley/presence-store/open';
import { openModerationStore } from '@parley/moderation/open';
import { federatePresence, readFederationConfig } from '@parley/federation';
import { createRedisTicketStore } from './adapters/redis-ticket-store.ts';
import { createGateway } from './app.ts';
import { readGatewayConfig } from './config.ts';
import { createTokenVerifier } from './domain/token-verifier.ts';
import { createJwksKeyGetter, isKeySet } from '@parley/tokens';
import { readFileSync } from 'node:fs';
import { installSignalHandlers } from './signals.ts';

const config = readGatewayConfig(process.env);
const federation = readFederationConfig(process.env);

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
const { store: regionPresence, redis } = openPresenceStore({
  redisUrl: config.redisUrl,
  ttlMs: config.presenceTtlMs,
});
if (federation && !natsBus) throw new Error('PARLEY_REGION needs NATS_URL: regions are joined through NATS');
const federated = federation && natsBus ? federatePresence(regionPresence, natsBus.raw, federation, { registry, logger }) : undefined;
const presence = federated?.store ?? regionPresence;
// Moderation lives in the same Redis as presence (auth reaches it through PARLEY_MODERATION_REDIS_URL),
// unless it is elsewhere: in a federation, the history region's, shared by every region.
const { store: moderation } = openModerationStore(config.moderationRedisUrl ? { redisUrl: config.moderationRedisUrl } : { redis });
registerBusMetrics(registry, bus);
if (redis) registerRedisMetrics(registry, redis, 'presence');
if (!config.natsUrl) logger.warn('NATS_URL is not set: using the in-memory bus; this gateway cannot reach others');

const history = await openHistoryStore({ bus, nats: natsBus, replicas: config.historyReplicas, logger, federation });

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
logger.info({ port: gateway.port, gatewayId: config.gatewayId, bus: config.natsUrl ? 'nats' : 'memory', presence: config.redisUrl ? 'redis' : 'memory', ...(federation && { region: federation.region, regions: federation.regions, historyRegion: federation.historyRegion }) }, `gateway listening on ${gateway.url}`);

installSignalHandlers(async () => {
  await gateway.drain();
  federated?.close();
  await Promise.allSettled([history.close(), bus.close(), presence.close()]);
  await tracing.shutdown();
}, logger);

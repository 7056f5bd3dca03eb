import { hostname } from 'node:os';
import { envBoolean, envPort, readConfig, z } from '@parley/config';
import { DEFAULT_DRAIN_MS, DEFAULT_GATEWAY_PORT } from './app.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './domain/limits.ts';
import { DEFAULT_MAX_REVOCATIONS_PER_TENANT } from './domain/revocations.ts';
import { COMPRESSION_MODES } from './transport/compression.ts';
import { DEFAULT_JWKS_COOLDOWN_MS, DEFAULT_JWKS_MAX_AGE_MS } from '@parley/tokens';

const schema = z.object({
  host: z.string().default('0.0.0.0'),
  port: envPort(DEFAULT_GATEWAY_PORT),
  gatewayId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default(hostname().slice(0, 64)),
  natsUrl: z.string().optional(),
  redisUrl: z.string().optional(),
  moderationRedisUrl: z.string().optional(),
  jwksUrl: z.url(),
  jwksMaxAgeMs: z.coerce.number().int().min(1000).default(DEFAULT_JWKS_MAX_AGE_MS),
  jwksCooldownMs: z.coerce.number().int().min(0).default(DEFAULT_JWKS_COOLDOWN_MS),
  jwksFile: z.string().optional(),
  drainMs: z.coerce.number().int().min(0).max(600_000).default(DEFAULT_DRAIN_MS),
  maxPayloadBytes: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(DEFAULT_MAX_PAYLOAD_BYTES),
  wsCompression: z.enum(COMPRESSION_MODES).default('off'),
  sse: envBoolean(true),
  presenceTtlMs: z.coerce.number().int().min(1000).default(15_000),
  historyReplicas: z.coerce.number().int().min(1).max(5).default(1),
  metricsPort: envPort(0).optional(),
  metricsTenantLabels: envBoolean(false),
  maxRevocationsPerTenant: z.coerce.number().int().min(1).default(DEFAULT_MAX_REVOCATIONS_PER_TENANT),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type GatewayConfig = z.infer<typeof schema>;

export const GATEWAY_ENV = {
  host: 'HOST',
  port: 'PORT',
  gatewayId: 'PARLEY_GATEWAY_ID',
  natsUrl: 'NATS_URL',
  redisUrl: 'REDIS_URL',
  moderationRedisUrl: 'PARLEY_MODERATION_REDIS_URL',
  jwksUrl: 'PARLEY_JWKS_URL',
  jwksMaxAgeMs: 'PARLEY_JWKS_MAX_AGE_MS',
  jwksCooldownMs: 'PARLEY_JWKS_COOLDOWN_MS',
  jwksFile: 'PARLEY_JWKS_FILE',
  drainMs: 'PARLEY_DRAIN_MS',
  maxPayloadBytes: 'PARLEY_MAX_PAYLOAD_BYTES',
  wsCompression: 'PARLEY_WS_COMPRESSION',
  sse: 'PARLEY_SSE',
  presenceTtlMs: 'PARLEY_PRESENCE_TTL_MS',
  historyReplicas: 'PARLEY_HISTORY_REPLICAS',
  metricsPort: 'PARLEY_METRICS_PORT',
  metricsTenantLabels: 'PARLEY_METRICS_TENANT_LABELS',
  maxRevocationsPerTenant: 'PARLEY_MAX_REVOCATIONS_PER_TENANT',
  logLevel: 'PARLEY_LOG_LEVEL',
} as const;

export function readGatewayConfig(env: Record<string, string | undefined>): Readonly<GatewayConfig> {
  return readConfig(schema, GATEWAY_ENV, env);
}

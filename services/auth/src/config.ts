import { envBoolean, envList, envPort, readConfig, z } from '@parley/config';
import { DEFAULT_DEMO_NAMESPACE } from './demo-tenant.ts';
import { DEFAULT_MAX_REVOCATIONS_PER_TENANT } from './settings.ts';

export const DEFAULT_AUTH_PORT = 8081;
/** How long a stopping auth process keeps serving after `/readyz` turned 503 (load balancers catch up). */
export const DEFAULT_AUTH_DRAIN_MS = 5000;

const schema = z.object({
  host: z.string().default('0.0.0.0'),
  port: envPort(DEFAULT_AUTH_PORT),
  natsUrl: z.string().optional(),
  redisUrl: z.string().optional(),
  moderationRedisUrl: z.string().optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  adminToken: z.string().min(16, 'must be at least 16 characters').optional(),
  dataDir: z.string().default('./.data'),
  signingKeysDir: z.string().optional(),
  activeKeyId: z.string().optional(),
  demoTenant: envBoolean(true),
  demoNamespace: z.string().default(DEFAULT_DEMO_NAMESPACE),
  demoApiKey: z.string().optional(),
  trustedProxies: envList(),
  drainMs: z.coerce.number().int().min(0).max(600_000).default(DEFAULT_AUTH_DRAIN_MS),
  metricsPort: envPort(0).optional(),
  metricsTenantLabels: envBoolean(false),
  maxRevocationsPerTenant: z.coerce.number().int().min(1).default(DEFAULT_MAX_REVOCATIONS_PER_TENANT),
});

export type AuthConfig = z.infer<typeof schema>;

/** Every environment variable the standalone auth process reads. */
export const AUTH_ENV = {
  host: 'HOST',
  port: 'PORT',
  natsUrl: 'NATS_URL',
  redisUrl: 'REDIS_URL',
  moderationRedisUrl: 'PARLEY_MODERATION_REDIS_URL',
  logLevel: 'PARLEY_LOG_LEVEL',
  adminToken: 'PARLEY_ADMIN_TOKEN',
  dataDir: 'PARLEY_DATA_DIR',
  signingKeysDir: 'PARLEY_SIGNING_KEYS_DIR',
  activeKeyId: 'PARLEY_ACTIVE_KEY_ID',
  demoTenant: 'PARLEY_AUTH_DEMO_TENANT',
  demoNamespace: 'PARLEY_DEMO_NAMESPACE',
  demoApiKey: 'PARLEY_DEMO_API_KEY',
  trustedProxies: 'PARLEY_AUTH_TRUSTED_PROXIES',
  drainMs: 'PARLEY_DRAIN_MS',
  metricsPort: 'PARLEY_METRICS_PORT',
  metricsTenantLabels: 'PARLEY_METRICS_TENANT_LABELS',
  maxRevocationsPerTenant: 'PARLEY_MAX_REVOCATIONS_PER_TENANT',
} as const;

export function readAuthConfig(env: Record<string, string | undefined>): Readonly<AuthConfig> {
  return readConfig(schema, AUTH_ENV, env);
}

import { hostname } from 'node:os';
import { DEFAULT_PRESENCE_TTL_MS } from '@parley/presence-store';
import { envBoolean, envList, envPort, readConfig, z } from '@parley/config';
import { DEFAULT_PRESENCE_PORT } from './app.ts';
import { DEFAULT_SWEEP_INTERVAL_MS } from './sweeper.ts';

const schema = z.object({
  host: z.string().default('0.0.0.0'),
  port: envPort(DEFAULT_PRESENCE_PORT),
  instanceId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default(hostname().slice(0, 64)),
  redisUrl: z.string({ error: 'required: the standalone presence service keeps presence in Redis (the in-memory mode runs inside `npm start`)' }).min(1),
  natsUrl: z.string({ error: 'required: swept leaves are announced to the gateways over NATS' }).min(1),
  natsMonitorUrl: z.url().optional(),
  authUrl: z.url({ error: 'required: API keys are checked with the auth service (GET /v1/whoami)' }),
  jwksUrl: z.url().optional(),
  presenceTtlMs: z.coerce.number().int().min(1000).default(DEFAULT_PRESENCE_TTL_MS),
  sweepMs: z.coerce.number().int().min(100).max(600_000).default(DEFAULT_SWEEP_INTERVAL_MS),
  trustedProxies: envList(),
  metricsPort: envPort(0).optional(),
  metricsTenantLabels: envBoolean(false),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type PresenceConfig = z.infer<typeof schema> & { jwksUrl: string };

export const PRESENCE_ENV = {
  host: 'HOST',
  port: 'PORT',
  instanceId: 'PARLEY_PRESENCE_ID',
  redisUrl: 'REDIS_URL',
  natsUrl: 'NATS_URL',
  natsMonitorUrl: 'PARLEY_NATS_MONITOR_URL',
  authUrl: 'PARLEY_AUTH_URL',
  jwksUrl: 'PARLEY_JWKS_URL',
  presenceTtlMs: 'PARLEY_PRESENCE_TTL_MS',
  sweepMs: 'PARLEY_PRESENCE_SWEEP_MS',
  trustedProxies: 'PARLEY_PRESENCE_TRUSTED_PROXIES',
  metricsPort: 'PARLEY_METRICS_PORT',
  metricsTenantLabels: 'PARLEY_METRICS_TENANT_LABELS',
  logLevel: 'PARLEY_LOG_LEVEL',
} as const;

/** The presence service's settings; `PARLEY_JWKS_URL` defaults to the auth service's JWKS. */
export function readPresenceConfig(env: Record<string, string | undefined>): Readonly<PresenceConfig> {
  const config = readConfig(schema, PRESENCE_ENV, env);
  return Object.freeze({ ...config, jwksUrl: config.jwksUrl ?? new URL('/.well-known/jwks.json', config.authUrl).toString() });
}

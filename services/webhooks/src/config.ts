import { hostname } from 'node:os';
import { envPort, readConfig, z } from '@parley/config';
import { DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_CAP_MS, DEFAULT_RETRY_PERIOD_MS, urlPolicyFromEnv, type UrlPolicy } from '@parley/webhooks';

export const DEFAULT_WEBHOOKS_PORT = 8083;

const schema = z.object({
  host: z.string().default('0.0.0.0'),
  port: envPort(DEFAULT_WEBHOOKS_PORT),
  instanceId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default(hostname().slice(0, 64)),
  natsUrl: z.string({ error: 'required: events are read from JetStream' }).min(1),
  retryPeriodMs: z.coerce.number().int().min(1000).default(DEFAULT_RETRY_PERIOD_MS),
  backoffBaseMs: z.coerce.number().int().min(10).default(DEFAULT_BACKOFF_BASE_MS),
  backoffCapMs: z.coerce.number().int().min(10).default(DEFAULT_BACKOFF_CAP_MS),
  timeoutMs: z.coerce.number().int().min(100).max(60_000).default(10_000),
  ackWaitMs: z.coerce.number().int().min(1000).max(600_000).default(30_000),
  streamReplicas: z.coerce.number().int().min(1).max(5).default(1),
  streamMaxBytes: z.coerce.number().int().min(1024 * 1024).default(1024 ** 3),
  metricsPort: envPort(0).optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type WebhooksConfig = z.infer<typeof schema> & { policy: UrlPolicy };

export const WEBHOOKS_ENV = {
  host: 'HOST',
  port: 'PORT',
  instanceId: 'PARLEY_WEBHOOKS_ID',
  natsUrl: 'NATS_URL',
  retryPeriodMs: 'PARLEY_WEBHOOKS_RETRY_PERIOD_MS',
  backoffBaseMs: 'PARLEY_WEBHOOKS_BACKOFF_BASE_MS',
  backoffCapMs: 'PARLEY_WEBHOOKS_BACKOFF_CAP_MS',
  timeoutMs: 'PARLEY_WEBHOOKS_TIMEOUT_MS',
  ackWaitMs: 'PARLEY_WEBHOOKS_ACK_WAIT_MS',
  streamReplicas: 'PARLEY_WEBHOOKS_STREAM_REPLICAS',
  streamMaxBytes: 'PARLEY_WEBHOOKS_STREAM_MAX_BYTES',
  metricsPort: 'PARLEY_METRICS_PORT',
  logLevel: 'PARLEY_LOG_LEVEL',
} as const;

export function readWebhooksConfig(env: Record<string, string | undefined>): Readonly<WebhooksConfig> {
  return Object.freeze({ ...readConfig(schema, WEBHOOKS_ENV, env), policy: urlPolicyFromEnv(env) });
}

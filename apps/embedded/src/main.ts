import { resolve } from 'node:path';
import { envPort, readConfig, z } from '@parley/config';
import { createLogger, readTracingConfig } from '@parley/observability';
import { installSignalHandlers } from '@parley/gateway';
import { startEmbedded } from './embedded.ts';
import { DEMO_GRANTS } from './demo.ts';
import { urlPolicyFromEnv } from '@parley/webhooks';

const config = readConfig(
  z.object({
    host: z.string().default('0.0.0.0'),
    port: envPort(8080),
    dataDir: z.string().default('.data'),
    demoNamespace: z.string().default('demo'),
    demoApiKey: z.string().min(8).optional(),
    adminToken: z.string().min(16).optional(),
    demoPage: z.enum(['true', 'false']).default('true'),
    drainMs: z.coerce.number().int().min(0).default(2000),
    maxRevocationsPerTenant: z.coerce.number().int().min(1).optional(),
    wsCompression: z.enum(['off', 'tenant', 'on']).default('off'),
    metricsPort: envPort(0).optional(),
    metricsTenantLabels: z.enum(['true', 'false']).default('false'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }),
  {
    host: 'HOST', port: 'PORT', dataDir: 'PARLEY_DATA_DIR', demoNamespace: 'PARLEY_DEMO_NAMESPACE', demoApiKey: 'PARLEY_DEMO_API_KEY',
    adminToken: 'PARLEY_ADMIN_TOKEN', demoPage: 'PARLEY_DEMO_PAGE', drainMs: 'PARLEY_DRAIN_MS', maxRevocationsPerTenant: 'PARLEY_MAX_REVOCATIONS_PER_TENANT',
    wsCompression: 'PARLEY_WS_COMPRESSION',
    metricsPort: 'PARLEY_METRICS_PORT', metricsTenantLabels: 'PARLEY_METRICS_TENANT_LABELS', logLevel: 'PARLEY_LOG_LEVEL',
  },
  process.env,
);
const logger = createLogger('parley', { level: config.logLevel });
const parley = await startEmbedded({
  host: config.host,
  port: config.port,
  dataDir: resolve(config.dataDir),
  demoNamespace: config.demoNamespace,
  demoPage: config.demoPage === 'true',
  drainMs: config.drainMs,
  wsCompression: config.wsCompression,
  logger,
  tracing: readTracingConfig(process.env),
  ...(config.demoApiKey && { demoApiKey: config.demoApiKey }),
  ...(config.adminToken && { adminToken: config.adminToken }),
  ...(config.maxRevocationsPerTenant !== undefined && { maxRevocationsPerTenant: config.maxRevocationsPerTenant }),
  webhookPolicy: urlPolicyFromEnv(process.env),
  ...(config.metricsPort !== undefined && { metricsPort: config.metricsPort }),
  metricsTenantLabels: config.metricsTenantLabels === 'true',
});

const keyLine = parley.demoApiKey
  ? parley.demoApiKeyGenerated
    ? `  demo API key     ${parley.demoApiKey}   (generated now, kept in ${parley.demoApiKeyFile})`
    : config.demoApiKey ? '  demo API key     from PARLEY_DEMO_API_KEY' : `  demo API key     ${parley.demoApiKey}   (kept in ${parley.demoApiKeyFile})`
  : '  demo API key     (the demo tenant has keys already; none kept here)';
const keyForCurl = parley.demoApiKey && !config.demoApiKey ? parley.demoApiKey : config.demoApiKey ? '$PARLEY_DEMO_API_KEY' : '<API key>';
const mintBody = JSON.stringify({ user: 'alice', grants: DEMO_GRANTS });
const mintCurl = `curl -sS -X POST ${parley.url}/v1/tokens -H "Authorization: Bearer ${keyForCurl}" -H 'Content-Type: application/json' -d '${mintBody}'`;
process.stdout.write(
  [
    '',
    `Parley is running (single process, in-memory bus and presence, data in ${resolve(config.dataDir)})`,
    '',
    `  demo chat page   ${parley.url}/`,
    `  WebSocket        ${parley.url.replace('http', 'ws')}/v1/ws`,
    `  user tokens      POST ${parley.url}/v1/tokens   (Authorization: Bearer <API key>)`,
    `  health, metrics  ${parley.url}/healthz  /readyz  /metrics`,
    `  demo namespace   ${config.demoNamespace}`,
    keyLine,
    config.adminToken ? '  admin API        enabled (PARLEY_ADMIN_TOKEN)' : '  admin API        disabled (set PARLEY_ADMIN_TOKEN to enable)',
    '',
    'Mint a user token for alice (what a tenant backend does):',
    `  ${mintCurl}`,
    '',
    'Open the page in two browser tabs to chat. Ctrl-C stops.',
    '',
  ].join('\n'),
);
installSignalHandlers(() => parley.drain(), logger);

import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { startCluster, DEFAULT_CLUSTER_GATEWAYS } from './cluster.ts';
import { startRegions } from './regions.ts';
import { REPO_ROOT } from './service-process.ts';

/** `npm run cluster`: the local multi-process cluster, until Ctrl-C. */
const gateways = Number(process.env.PARLEY_CLUSTER_GATEWAYS ?? DEFAULT_CLUSTER_GATEWAYS);
/** 0 lets the kernel choose every port. */
const basePort = Number(process.env.PARLEY_CLUSTER_BASE_PORT ?? 8080);
/** PARLEY_CLUSTER_PROMETHEUS=1: a real Prometheus beside the cluster (built once by scripts/ensure-tool.sh). */
const withPrometheus = ['1', 'true'].includes(process.env.PARLEY_CLUSTER_PROMETHEUS ?? '');
const adminTokenFromEnv = process.env.PARLEY_ADMIN_TOKEN;
if (adminTokenFromEnv !== undefined && adminTokenFromEnv.length < 16) {
  console.error('PARLEY_ADMIN_TOKEN must be at least 16 characters long');
  process.exit(2);
}
const args = parseArgs({ options: { regions: { type: 'string' }, 'link-latency-ms': { type: 'string' } }, strict: true }).values;
if (args.regions !== undefined) {
  const regions = Number(args.regions);
  const linkLatencyMs = Number(args['link-latency-ms'] ?? 0);
  if (!Number.isInteger(regions) || regions < 2 || regions > 26 || !Number.isInteger(linkLatencyMs) || linkLatencyMs < 0) {
    console.error('usage: npm run cluster -- --regions N [--link-latency-ms MS]   (N from 2 to 26)');
    process.exit(2);
  }
  await runRegions(regions, linkLatencyMs);
} else {
  await runCluster();
}

async function runCluster() {
  const cluster = await startCluster({
    gateways,
    basePort,
    output: 'inherit',
    env: { PARLEY_DRAIN_MS: process.env.PARLEY_DRAIN_MS ?? '2000' },
    ...(adminTokenFromEnv && { adminToken: adminTokenFromEnv }),
    ...(withPrometheus && { prometheus: {} }),
  });

  // Written before the banner: whoever waits for the banner can read it.
  const stateFile = process.env.PARLEY_CLUSTER_FILE ?? join(REPO_ROOT, '.data', 'cluster.json');
  mkdirSync(dirname(stateFile), { recursive: true });
  writeFileSync(
    stateFile,
    JSON.stringify({ auth: cluster.auth.url, presence: cluster.presence.url, gateways: cluster.gateways.map((g) => g.url), nats: cluster.nats.url, redis: cluster.redis.url, authRedis: cluster.authRedis.url, ...(cluster.webhooks && { webhooks: cluster.webhooks.url }), demoNamespace: cluster.demoNamespace, demoApiKey: cluster.demoApiKey, ...(cluster.prometheus && { prometheus: cluster.prometheus.url }) }, null, 2),
    { mode: 0o600 },
  );

  const lines = [
    ['nats', cluster.nats.url],
    ['redis (presence)', cluster.redis.url],
    ['redis (auth, append-only file)', cluster.authRedis.url],
    ['auth', cluster.auth.url],
    ['presence', cluster.presence.url],
    ...(cluster.webhooks ? [['webhooks', cluster.webhooks.url]] : []),
    ...cluster.gateways.map((g) => [g.name, `${g.url.replace('http', 'ws')}/v1/ws`]),
    ...(cluster.prometheus ? [['prometheus', `${cluster.prometheus.url}   (HTTP API: /api/v1/query?query=…, /api/v1/alerts; no web UI)`]] : []),
  ];
  console.log('\nParley cluster is up:');
  for (const [name, url] of lines) console.log(`  ${name!.padEnd(16)} ${url}`);
  const adminTokenLine = adminTokenFromEnv ? 'from PARLEY_ADMIN_TOKEN' : `${cluster.adminToken}   (generated now; set PARLEY_ADMIN_TOKEN to choose it)`;
  console.log(`\n  demo namespace  ${cluster.demoNamespace}\n  demo API key    ${cluster.demoApiKey}\n  admin token     ${adminTokenLine}\n\nCtrl-C stops everything.`);

  stopOnSignal('the cluster', () => cluster.stop());
}

/** `npm run cluster -- --regions N`: a federation of N regions on loopback, joined by Toxiproxy links (region i's ports from base + 100 × i). */
async function runRegions(count: number, linkLatencyMs: number) {
  const federation = await startRegions({
    regions: count,
    gateways: Math.min(gateways, 2),
    basePort,
    linkLatencyMs,
    output: 'inherit',
    cluster: { env: { PARLEY_DRAIN_MS: process.env.PARLEY_DRAIN_MS ?? '2000' }, ...(adminTokenFromEnv && { adminToken: adminTokenFromEnv }) },
  });
  const stateFile = process.env.PARLEY_CLUSTER_FILE ?? join(REPO_ROOT, '.data', 'cluster.json');
  mkdirSync(dirname(stateFile), { recursive: true });
  const first = federation.regions[0]!.cluster;
  writeFileSync(
    stateFile,
    JSON.stringify(
      {
        regions: federation.regions.map(({ name, cluster }) => ({ name, auth: cluster.auth.url, presence: cluster.presence.url, gateways: cluster.gateways.map((g) => g.url), nats: cluster.nats.url })),
        toxiproxy: federation.toxiproxy.apiUrl,
        demoNamespace: first.demoNamespace,
        demoApiKey: first.demoApiKey,
      },
      null,
      2,
    ),
    { mode: 0o600 },
  );
  console.log(`\nParley federation is up: ${count} regions, region ${federation.regions[0]!.name} holds history and the shared stores${linkLatencyMs ? `, links delayed ${linkLatencyMs} ms each way` : ''}:`);
  for (const { name, cluster } of federation.regions) {
    console.log(`\n  region ${name}`);
    for (const [what, url] of [['auth', cluster.auth.url], ['presence', cluster.presence.url], ...cluster.gateways.map((g) => [g.name, `${g.url.replace('http', 'ws')}/v1/ws`])]) console.log(`    ${what!.padEnd(14)} ${url}`);
  }
  console.log(`\n  links (Toxiproxy API) ${federation.toxiproxy.apiUrl}   (cut one: curl -XPOST -d '{"enabled":false}' ${federation.toxiproxy.apiUrl}/proxies/b-leaf)`);
  console.log(`\n  demo namespace  ${first.demoNamespace}\n  demo API key    ${first.demoApiKey}   (tokens minted in any region work in every region)\n  admin token     ${adminTokenFromEnv ? 'from PARLEY_ADMIN_TOKEN' : first.adminToken}\n\nCtrl-C stops everything.`);
  stopOnSignal('the regions', () => federation.stop());
}

/** Ctrl-C or SIGTERM stops everything once, then exits 0. */
function stopOnSignal(what: string, stopAll: () => Promise<void>) {
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log(`\nstopping ${what}…`);
    await stopAll();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

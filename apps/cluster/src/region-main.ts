import { startCluster, type ClusterOptions } from './cluster.ts';
import { waitForLeafLinks } from './regions.ts';

/**
 * One federation region as its own process tree, for tests that place regions in network
 * namespaces: `PARLEY_REGION_SPEC` holds the `ClusterOptions` (JSON) and `leafLinks`, the leaf
 * node connections to wait for. Prints one line `PARLEY_REGION_READY {…}` with the ports, then
 * runs until SIGTERM (stops everything) or SIGKILL of its process group (the region is gone).
 */
const spec = JSON.parse(process.env.PARLEY_REGION_SPEC ?? '{}') as ClusterOptions & { leafLinks?: number };
const { leafLinks, ...options } = spec;
const cluster = await startCluster(options);
if (leafLinks) await waitForLeafLinks(cluster, leafLinks);
const port = (url: string) => Number(new URL(url).port);
const ready = {
  gateways: cluster.gateways.map((g) => port(g.url)),
  auth: port(cluster.auth.url),
  presence: port(cluster.presence.url),
  tenantRedis: cluster.authRedis.port,
  redis: cluster.redis.port,
  natsMonitor: cluster.nats.monitorUrl,
  demoApiKey: cluster.demoApiKey,
  adminToken: cluster.adminToken,
  signingKeysDir: cluster.signingKeysDir,
};
process.stdout.write(`PARLEY_REGION_READY ${JSON.stringify(ready)}\n`);
export type RegionReady = typeof ready;

process.on('SIGTERM', () => {
  void cluster.stop().then(() => process.exit(0));
});

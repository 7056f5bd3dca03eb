import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startToxiproxy, type Toxiproxy } from '@parley/testkit';
import { startCluster, type Cluster, type ClusterOptions } from './cluster.ts';

export interface RegionsOptions {
  /** @default 2 */
  regions?: number;
  /** Gateways per region. @default 2 */
  gateways?: number;
  /** Added to each direction of every inter-region link (Toxiproxy). @default 0 */
  linkLatencyMs?: number;
  /** 'inherit' prints prefixed lines; a folder gets a subfolder per region. */
  output?: 'inherit' | string;
  /** Region i's ports start at basePort + 100 × i (see `ClusterOptions.basePort`). @default 0: free ports */
  basePort?: number;
  /** Passed to every region's `startCluster`. */
  cluster?: Pick<ClusterOptions, 'env' | 'gatewayEnv' | 'webhooks' | 'demoApiKey' | 'adminToken'>;
}

export interface Region {
  name: string;
  cluster: Cluster;
}

export interface Regions {
  regions: Region[];
  toxiproxy: Toxiproxy;
  /** Cuts every link of a region other than the first (its NATS leaf link and its reach to the shared stores). */
  cut(region: string): Promise<void>;
  restore(region: string): Promise<void>;
  stop(): Promise<void>;
}

/** Region names: a, b, c, … (each is also its NATS JetStream domain). */
export const regionName = (index: number) => String.fromCharCode(97 + index);

/** The three links a region keeps to the first region, each a Toxiproxy proxy. */
const LINKS = ['leaf', 'tenants', 'moderation'] as const;

/**
 * A federation on this machine: `regions` Parley installations, each with its own NATS (a
 * JetStream domain of its own), Redis, auth, presence, webhooks and gateways. The first region
 * holds history and the shared tenant and moderation stores; every other region joins it through
 * Toxiproxy links on loopback (its NATS leaf node connection, and its auth's and gateways' reach
 * to the shared stores), so a test can delay them or cut them.
 */
export async function startRegions(options: RegionsOptions = {}): Promise<Regions> {
  const count = options.regions ?? 2;
  if (count < 2 || count > 26) throw new Error('regions: 2 to 26');
  const names = Array.from({ length: count }, (_, i) => regionName(i));
  const toxiproxy = await startToxiproxy();
  const output = (name: string) => {
    if (!options.output || options.output === 'inherit') return options.output;
    const dir = join(options.output, `region-${name}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  const regionCluster = (i: number): ClusterOptions => ({
    gateways: options.gateways ?? 2,
    ...(options.basePort && { basePort: options.basePort + 100 * i }),
    ...(output(names[i]!) && { output: output(names[i]!)! }),
    ...options.cluster,
  });
  const regions: Region[] = [];
  const stop = async () => {
    await Promise.allSettled(regions.map((r) => r.cluster.stop()));
    await toxiproxy.stop();
  };
  try {
    const hubName = names[0]!;
    const leafPort = await freePort();
    const hub = await startCluster({ ...regionCluster(0), federation: { region: hubName, regions: names, historyRegion: hubName, leafPort } });
    regions.push({ name: hubName, cluster: hub });
    const upstream = { leaf: `127.0.0.1:${leafPort}`, tenants: `127.0.0.1:${hub.authRedis.port}`, moderation: `127.0.0.1:${hub.redis.port}` };
    for (let i = 1; i < count; i++) {
      const name = names[i]!;
      const ports: Record<string, number> = {};
      for (const link of LINKS) {
        ports[link] = await freePort();
        await toxiproxy.addProxy(`${name}-${link}`, `127.0.0.1:${ports[link]}`, upstream[link]);
        if (options.linkLatencyMs) await toxiproxy.addLatency(`${name}-${link}`, options.linkLatencyMs);
      }
      const cluster = await startCluster({
        ...regionCluster(i),
        demoApiKey: hub.demoApiKey,
        adminToken: hub.adminToken,
        federation: {
          region: name,
          regions: names,
          historyRegion: hubName,
          leafRemote: `nats-leaf://127.0.0.1:${ports.leaf}`,
          sharedStores: { tenantRedisUrl: `redis://127.0.0.1:${ports.tenants}`, moderationRedisUrl: `redis://127.0.0.1:${ports.moderation}` },
          signingKeysDir: hub.signingKeysDir,
        },
      });
      regions.push({ name, cluster });
    }
    await waitForLeafLinks(hub, count - 1);
  } catch (error) {
    await stop();
    throw error;
  }
  const setLinks = async (region: string, enabled: boolean) => {
    if (region === names[0] || !names.includes(region)) throw new Error(`no links of region ${region} to cut (the first region's links belong to the others)`);
    for (const link of LINKS) await toxiproxy.setEnabled(`${region}-${link}`, enabled);
  };
  return {
    regions,
    toxiproxy,
    cut: (region) => setLinks(region, false),
    restore: (region) => setLinks(region, true),
    stop,
  };
}

/** Resolves once the region's NATS server holds `count` leaf node connections. */
export async function waitForLeafLinks(cluster: Cluster, count: number, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const leafz = (await (await fetch(`${cluster.nats.monitorUrl}/leafz`)).json()) as { leafnodes?: number };
    if ((leafz.leafnodes ?? 0) >= count) return;
    if (Date.now() > deadline) throw new Error(`region links: ${leafz.leafnodes ?? 0} of ${count} leaf node connections after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

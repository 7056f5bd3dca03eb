import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startNats, startNatsCluster, startRedis, startRedisCluster, type NatsCluster, type NatsProcess, type RedisCluster, type ServerProcess } from '@parley/testkit';
import { startPrometheus, type PrometheusProcess, type ScrapeTarget } from './prometheus.ts';
import { ServiceProcess, productionCommand } from './service-process.ts';

export interface ClusterOptions {
  /** @default 3 */
  gateways?: number;
  /** Start NATS with JetStream (history). @default true */
  jetstream?: boolean;
  /** More than 1: a NATS cluster (routes on loopback); every process gets every server URL. @default 1 */
  natsServers?: number;
  /** Start the webhook dispatcher (needs JetStream). @default true when `jetstream` */
  webhooks?: boolean;
  /** Environment for the webhook dispatcher only. */
  webhooksEnv?: Record<string, string>;
  /** 3 or more: presence (gateways and the presence service) uses a Redis Cluster of that many masters; auth keeps its own Redis. @default 0 */
  presenceRedisClusterNodes?: number;
  /** 'inherit' prints prefixed lines; a folder gets one log file per process. @default a temporary folder */
  output?: 'inherit' | string;
  /** First gateway port; auth is base+10, presence base+11, Prometheus base+12, webhooks base+13. @default 0: free ports */
  basePort?: number;
  demoNamespace?: string;
  /** @default $PARLEY_DEMO_API_KEY, else generated */
  demoApiKey?: string;
  /** @default generated */
  adminToken?: string;
  /** Extra environment for every Parley process (for example PARLEY_DRAIN_MS). */
  env?: Record<string, string>;
  /** Environment for gateways only. */
  gatewayEnv?: Record<string, string>;
  /** Environment for one gateway (1-based), after `gatewayEnv`; given every NATS server URL (to place a gateway on one). */
  gatewayEnvFor?: (index: number, natsUrls: string[]) => Record<string, string>;
  /**
   * One region of a federation (docs/architecture.md, "Federation"): NATS gets the region's
   * JetStream domain and leaf node links; every process gets the region settings. A region that
   * is not the history region shares the history region's tenant and moderation stores
   * (`sharedStores`, reached through the link) and signing keys.
   */
  federation?: RegionOptions;
  /** Listen address of the services, NATS leaf nodes and the Redis servers (default loopback): `0.0.0.0` when other network namespaces reach them. */
  listenHost?: string;
  /** Start a real Prometheus (port base+12) scraping every Parley process, with the chart's alert rules; every process then keeps tenant labels on /metrics (loopback only). */
  prometheus?: { scrapeInterval?: string; evaluationInterval?: string };
}

export interface RegionOptions {
  region: string;
  regions: string[];
  historyRegion: string;
  /** Accept leaf node links (other regions) on this port. */
  leafPort?: number;
  /** Connect to another region's leaf node port (`nats-leaf://host:port`). */
  leafRemote?: string;
  /** The federation's tenant store and moderation store, when this region does not hold them. */
  sharedStores?: { tenantRedisUrl: string; moderationRedisUrl: string };
  /** The signing keys every region's auth signs with (the first region's, generated in its data folder). */
  signingKeysDir?: string;
}

/**
 * Subjects that stay in their region (denied on the leaf node link): webhook events, so each
 * region's dispatchers deliver the events decided there (else every region's event stream would
 * store each one), and the dispatchers' lease bucket, which every region has under the same name
 * (its writes would otherwise land in every region's bucket).
 */
export const REGION_LOCAL_SUBJECTS = ['events.>', '$KV.PARLEY_WEBHOOK_LEASE.>'];

export interface Cluster {
  /** The (first) NATS server. */
  nats: NatsProcess;
  /** Every NATS server, when `natsServers` > 1. */
  natsCluster: NatsCluster | undefined;
  /** Presence's and moderation's Redis (unless `presenceRedisClusterNodes`): nothing on disk (presence is re-asserted by the gateways' heartbeats; the local cluster never restarts it). */
  redis: ServerProcess;
  /** Presence's and moderation's Redis Cluster, when `presenceRedisClusterNodes` was given. */
  presenceRedisCluster: RedisCluster | undefined;
  /** Auth's tenant store: a separate Redis with an append-only file in the cluster's data folder. */
  authRedis: ServerProcess;
  auth: ServiceProcess;
  presence: ServiceProcess;
  gateways: ServiceProcess[];
  /** The webhook dispatcher, unless `webhooks: false` or no JetStream. */
  webhooks: ServiceProcess | undefined;
  /** When `prometheus` was asked for. */
  prometheus: PrometheusProcess | undefined;
  demoNamespace: string;
  demoApiKey: string;
  adminToken: string;
  jwksUrl: string;
  logDir: string | undefined;
  /** The auth service's signing keys folder (generated in its data folder unless given). */
  signingKeysDir: string;
  /** Starts one more gateway and returns it. */
  addGateway(): Promise<ServiceProcess>;
  /** Stops every process (gateways with SIGTERM), then NATS and Redis. */
  stop(): Promise<void>;
}

export const DEFAULT_CLUSTER_GATEWAYS = 3;

/** A demo API key in the auth service's format. */
export function generateDemoApiKey(namespace: string) {
  return `pk_${namespace}_${randomBytes(32).toString('base64url')}`;
}

/**
 * Parley on loopback as Kubernetes would run it: real `nats-server` and `redis-server`, the auth
 * and presence services and several gateways, each its own process, wired by environment only.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const output = options.output ?? mkdtempSync(join(tmpdir(), 'parley-cluster-'));
  const logDir = output === 'inherit' ? undefined : output;
  if (logDir) mkdirSync(logDir, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-cluster-data-'));
  const demoNamespace = options.demoNamespace ?? 'demo';
  const demoApiKey = options.demoApiKey ?? process.env.PARLEY_DEMO_API_KEY ?? generateDemoApiKey(demoNamespace);
  const adminToken = options.adminToken ?? randomBytes(24).toString('base64url');
  // Ports are chosen before the services listen, so the kernel may offer one twice: keep them distinct.
  const handedOut = new Set<number>();
  const port = async (offset: number) => {
    if (options.basePort) return options.basePort + offset;
    let free = await freePort();
    while (handedOut.has(free)) free = await freePort();
    handedOut.add(free);
    return free;
  };
  const out = (name: string) => (logDir ? join(logDir, `${name}.log`) : 'inherit');

  const jetstream = options.jetstream ?? true;
  const natsCluster = (options.natsServers ?? 1) > 1 ? await startNatsCluster(options.natsServers, { jetstream }) : undefined;
  const authRedisDir = join(dataDir, 'auth-redis');
  mkdirSync(authRedisDir, { recursive: true });
  const region = options.federation;
  if (region && natsCluster) throw new Error('a federation region runs one NATS server here (natsServers: 1)');
  const bind = options.listenHost ? { bind: options.listenHost } : {};
  const leafnodes = region && {
    ...(region.leafPort && { listen: { host: options.listenHost ?? '127.0.0.1', port: region.leafPort } }),
    remotes: region.leafRemote ? [{ url: region.leafRemote, denyExports: REGION_LOCAL_SUBJECTS, denyImports: REGION_LOCAL_SUBJECTS }] : [],
  };
  const [nats, redis, authRedis] = await Promise.all([
    natsCluster ? Promise.resolve(natsCluster.servers[0]!) : startNats({ jetstream, monitor: true, ...(region && { jetstreamDomain: region.region, leafnodes }) }),
    startRedis(bind),
    startRedis({ persistDir: authRedisDir, ...bind }),
  ]);
  const presenceRedisCluster = options.presenceRedisClusterNodes ? await startRedisCluster(options.presenceRedisClusterNodes) : undefined;
  // With Prometheus on, /metrics keeps its tenant labels (dashboards group by tenant): everything here listens on loopback only.
  const metricsLabels: Record<string, string> = options.prometheus ? { PARLEY_METRICS_TENANT_LABELS: 'true' } : {};
  const regionEnv: Record<string, string> = region ? { PARLEY_REGION: region.region, PARLEY_FEDERATION_REGIONS: region.regions.join(','), PARLEY_HISTORY_REGION: region.historyRegion } : {};
  const common = { NATS_URL: natsCluster ? natsCluster.urls.join(',') : nats.url, REDIS_URL: redis.url, PARLEY_LOG_LEVEL: 'info', ...regionEnv, ...metricsLabels, ...options.env };
  const presenceRedis = presenceRedisCluster ? { REDIS_URL: presenceRedisCluster.url } : {};
  // Moderation state lives in the Redis the gateways use for presence: auth writes it, they enforce it.
  const moderationRedisUrl = region?.sharedStores?.moderationRedisUrl ?? (presenceRedisCluster ? presenceRedisCluster.url : redis.url);
  const gatewayModeration: Record<string, string> = region?.sharedStores ? { PARLEY_MODERATION_REDIS_URL: moderationRedisUrl } : {};
  const signingKeys: Record<string, string> = region?.signingKeysDir ? { PARLEY_SIGNING_KEYS_DIR: region.signingKeysDir } : {};
  const host = options.listenHost ?? '127.0.0.1';
  // Output lines of several regions in one terminal say which region they come from.
  const prefix = region ? `${region.region}/` : '';

  const choosePort = options.basePort ? undefined : () => port(0);
  const authPort = await port(10);
  const auth = new ServiceProcess({
    name: `${prefix}auth`,
    args: productionCommand('auth'),
    url: `http://127.0.0.1:${authPort}`,
    choosePort,
    output: out('auth'),
    // The presence service checks API keys with auth on behalf of its clients and passes their
    // addresses in X-Forwarded-For: auth believes that header from presence's address only.
    env: { PARLEY_AUTH_TRUSTED_PROXIES: '127.0.0.1', ...common, ...signingKeys, REDIS_URL: region?.sharedStores?.tenantRedisUrl ?? authRedis.url, PORT: String(authPort), HOST: host, PARLEY_DATA_DIR: dataDir, PARLEY_ADMIN_TOKEN: adminToken, PARLEY_DEMO_API_KEY: demoApiKey, PARLEY_DEMO_NAMESPACE: demoNamespace, PARLEY_MODERATION_REDIS_URL: moderationRedisUrl },
  });
  await auth.start();
  const authUrl = auth.url;
  const jwksUrl = `${authUrl}/.well-known/jwks.json`;

  const presencePort = await port(11);
  const presence = new ServiceProcess({
    name: `${prefix}presence`,
    args: productionCommand('presence'),
    url: `http://127.0.0.1:${presencePort}`,
    choosePort,
    output: out('presence'),
    env: { ...common, ...presenceRedis, ...(region && nats.monitorUrl && { PARLEY_NATS_MONITOR_URL: nats.monitorUrl }), PORT: String(presencePort), HOST: host, PARLEY_AUTH_URL: authUrl, PARLEY_JWKS_URL: jwksUrl },
  });

  const webhooksPort = await port(13);
  const webhooks =
    (options.webhooks ?? jetstream) && jetstream
      ? new ServiceProcess({
          name: `${prefix}webhooks`,
          args: productionCommand('webhooks'),
          url: `http://127.0.0.1:${webhooksPort}`,
          choosePort,
          output: out('webhooks'),
          env: { ...common, PORT: String(webhooksPort), HOST: '127.0.0.1', PARLEY_WEBHOOKS_ID: region ? `${region.region}-webhooks-1` : 'webhooks-1', ...options.webhooksEnv },
        })
      : undefined;

  const gateways: ServiceProcess[] = [];
  const makeGateway = async () => {
    const index = gateways.length + 1;
    const gatewayPort = await port(index - 1);
    const gateway = new ServiceProcess({
      name: `${prefix}gateway-${index}`,
      args: productionCommand('gateway'),
      url: `http://127.0.0.1:${gatewayPort}`,
      choosePort,
      output: out(`gateway-${index}`),
      env: {
        ...common,
        ...presenceRedis,
        ...gatewayModeration,
        PORT: String(gatewayPort),
        HOST: host,
        PARLEY_GATEWAY_ID: `gateway-${index}`,
        PARLEY_JWKS_URL: jwksUrl,
        ...options.gatewayEnv,
        ...options.gatewayEnvFor?.(index, natsCluster ? natsCluster.urls : [nats.url]),
      },
    });
    gateways.push(gateway);
    return gateway;
  };
  for (let i = 0; i < (options.gateways ?? DEFAULT_CLUSTER_GATEWAYS); i++) await makeGateway();
  await Promise.all([presence.start(), ...gateways.map((g) => g.start()), webhooks?.start()]);

  const scrapeTargets = (): ScrapeTarget[] => [
    ...gateways.map((g) => ({ job: 'gateway', pod: g.name, url: g.url })),
    { job: 'auth', pod: auth.name, url: auth.url },
    { job: 'presence', pod: presence.name, url: presence.url },
    ...(webhooks ? [{ job: 'webhooks', pod: webhooks.name, url: webhooks.url }] : []),
  ];
  const prometheus = options.prometheus
    ? await startPrometheus({ ...options.prometheus, targets: scrapeTargets(), port: await port(12), output: logDir ? join(logDir, 'prometheus.log') : 'ignore' })
    : undefined;

  return {
    nats,
    natsCluster,
    redis,
    presenceRedisCluster,
    authRedis,
    auth,
    presence,
    gateways,
    webhooks,
    prometheus,
    demoNamespace,
    demoApiKey,
    adminToken,
    jwksUrl,
    logDir,
    signingKeysDir: region?.signingKeysDir ?? join(dataDir, 'signing-keys'),
    async addGateway() {
      const gateway = await makeGateway();
      await gateway.start();
      prometheus?.setTargets(scrapeTargets());
      return gateway;
    },
    async stop() {
      await prometheus?.stop();
      const processes = [...gateways, presence, auth, ...(webhooks ? [webhooks] : [])];
      await Promise.allSettled(processes.map((p) => p.stop('SIGTERM')));
      for (const p of processes) p.closeLog();
      await Promise.allSettled([natsCluster ? natsCluster.stop() : nats.cleanup(), redis.stop(), authRedis.stop(), presenceRedisCluster?.stop()]);
    },
  };
}

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, type ClusterOptions } from '@parley/cluster';
import { REPO_ROOT } from './paths.ts';

/** The Parley under test: where k6 connects and how it mints tokens. */
export interface Target {
  /** Gateway base URLs (http://host:port). */
  gateways: string[];
  auth: string;
  apiKey: string;
  namespace: string;
  /** Known only for a cluster started here; needed to change tenant settings. */
  adminToken: string | undefined;
  /** Where the processes log, for a cluster started here. */
  logDir: string | undefined;
  /** Known only for a cluster started here. */
  natsUrl: string | undefined;
  /** The gateway processes, for a cluster started here (CPU and memory from /proc). */
  gatewayPids: number[];
  /** Stops what was started here; leaves an attached cluster alone. */
  stop(): Promise<void>;
}

/** Written by `npm run cluster`. */
export const DEFAULT_CLUSTER_FILE = join(REPO_ROOT, '.data/cluster.json');

export interface StartTargetOptions {
  /** @default 2 */
  gateways?: number;
  /** Extra environment for every Parley process. */
  env?: Record<string, string>;
  gatewayEnv?: Record<string, string>;
  /** @default true, as the cluster runs in production (history needs it). */
  jetstream?: boolean;
  output?: ClusterOptions['output'];
}

/** Starts the local multi-process cluster (real NATS, Redis, auth, presence, N gateways). */
export async function startTarget(options: StartTargetOptions = {}): Promise<Target> {
  const cluster = await startCluster({
    gateways: options.gateways ?? 2,
    jetstream: options.jetstream ?? true,
    env: { PARLEY_LOG_LEVEL: 'warn', PARLEY_DRAIN_MS: '500', ...options.env },
    ...(options.gatewayEnv && { gatewayEnv: options.gatewayEnv }),
    ...(options.output !== undefined && { output: options.output }),
  });
  return {
    gateways: cluster.gateways.map((g) => g.url),
    auth: cluster.auth.url,
    apiKey: cluster.demoApiKey,
    namespace: cluster.demoNamespace,
    adminToken: cluster.adminToken,
    logDir: cluster.logDir,
    natsUrl: cluster.nats.url,
    gatewayPids: cluster.gateways.map((g) => g.child!.pid!),
    stop: () => cluster.stop(),
  };
}

/** Uses a cluster that is already running, described by the file `npm run cluster` writes. */
export function attachTarget(file = DEFAULT_CLUSTER_FILE): Target {
  if (!existsSync(file)) throw new Error(`${file} does not exist: start a cluster with "npm run cluster" first, or drop --attach`);
  const described = JSON.parse(readFileSync(file, 'utf8')) as { auth?: string; gateways?: string[]; demoApiKey?: string; demoNamespace?: string };
  if (!described.auth || !described.gateways?.length || !described.demoApiKey) throw new Error(`${file} lacks auth, gateways or demoApiKey`);
  return {
    gateways: described.gateways,
    auth: described.auth,
    apiKey: described.demoApiKey,
    namespace: described.demoNamespace ?? 'demo',
    adminToken: process.env.PARLEY_ADMIN_TOKEN,
    logDir: undefined,
    natsUrl: undefined,
    gatewayPids: [],
    stop: async () => {},
  };
}

/** What k6 needs to reach the target, as `__ENV` variables. */
export function targetEnv(target: Target): Record<string, string> {
  return { PARLEY_GATEWAYS: target.gateways.join(','), PARLEY_AUTH_URL: target.auth, PARLEY_API_KEY: target.apiKey };
}

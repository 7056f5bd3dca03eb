import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '@parley/cluster';
import { freePort, startRedis } from '@parley/testkit';
import type { StormSystemName } from './storm-codecs.ts';
import { centrifugoToken, mapLimit, SLOW_CONSUMER_BYTES, startNode, type NodeProcess } from './systems.ts';

/** Three nodes of a system with history, on loopback; node 0 is the one the storm kills. */
export interface StormSystem {
  name: StormSystemName;
  /** How history and the cluster are set up, for the report. */
  mode: string;
  ports: number[];
  nodePids: number[];
  /** Broker and store processes by name (their CPU and memory are reported). */
  brokers: Record<string, number>;
  tokens(users: string[]): Promise<(string | undefined)[]>;
  /** Requests the brokers served so far (JetStream API requests, Redis commands): read before and after the storm. */
  counters(): Promise<Record<string, number>>;
  /** SIGKILL, and wait until the process is gone. */
  killNode(index: number): Promise<void>;
  stop(): Promise<void>;
}

export interface StormSystemOptions {
  logDir: string;
  centrifugoBin?: string;
  /** Messages kept per room: both systems replay at most this many on resume. */
  historySize: number;
}

const NODES = 3;
/** Token requests in flight: well under what auth admits at once from one address (32). */
const MINT_CONCURRENCY = 16;

/** `total_commands_processed` of a redis-server, from INFO over a raw connection. */
function redisCommandsProcessed(url: string): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let text = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('redis INFO timed out')));
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const found = /total_commands_processed:(\d+)/.exec(text);
      if (found) {
        socket.end();
        resolve(Number(found[1]));
      }
    });
    socket.write('INFO stats\r\n');
  });
}

async function jetStreamApiRequests(monitorUrl: string | undefined): Promise<Record<string, number>> {
  if (!monitorUrl) return {};
  const varz = (await (await fetch(`${monitorUrl}/varz`)).json()) as { jetstream?: { stats?: { api?: { total: number; errors: number } } } };
  const api = varz.jetstream?.stats?.api;
  return api ? { jetStreamApiRequests: api.total, jetStreamApiErrors: api.errors } : {};
}
export const STORM_TENANT = 'storm';

/**
 * The local cluster (apps/cluster: three gateways, auth, presence, NATS with JetStream, Redis
 * for presence) and a tenant with history, created through the admin API with the product
 * limits lifted (messages/s, connections, rooms: the storm measures capacity, not the limits).
 */
async function startParley(options: StormSystemOptions): Promise<StormSystem> {
  const cluster = await startCluster({ gateways: NODES, jetstream: true, webhooks: false, output: options.logDir, env: { PARLEY_LOG_LEVEL: 'warn', PARLEY_DRAIN_MS: '0' } });
  let apiKey: string;
  try {
    const admin = { Authorization: `Bearer ${cluster.adminToken}`, 'Content-Type': 'application/json' };
    const settings = { history: { enabled: true, maxMessagesPerRoom: options.historySize }, messagesPerSecond: 10_000, burst: 100_000, maxConnections: 1_000_000, maxRooms: 10_000 };
    const created = await fetch(`${cluster.auth.url}/v1/admin/tenants`, { method: 'POST', headers: admin, body: JSON.stringify({ ns: STORM_TENANT, settings }) });
    if (!created.ok) throw new Error(`POST /v1/admin/tenants answered ${created.status}: ${await created.text()}`);
    const key = await fetch(`${cluster.auth.url}/v1/admin/tenants/${STORM_TENANT}/keys`, { method: 'POST', headers: admin });
    if (!key.ok) throw new Error(`POST /v1/admin/tenants/${STORM_TENANT}/keys answered ${key.status}: ${await key.text()}`);
    apiKey = ((await key.json()) as { key: string }).key;
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  // No presence grant: clients do not receive presence events (Centrifugo runs without presence),
  // while the gateways still record every join and leave in Redis, as they always do.
  const grants = { '*': ['subscribe', 'publish', 'history'] };
  return {
    name: 'parley',
    mode: `Parley: 3 gateways, auth, presence service; one nats-server with JetStream (history: a stream with 1 replica; maxMessagesPerRoom ${options.historySize}); one redis-server for presence`,
    ports: cluster.gateways.map((g) => Number(new URL(g.url).port)),
    nodePids: cluster.gateways.map((g) => g.child!.pid!),
    brokers: { nats: cluster.nats.process.pid!, redis: cluster.redis.process.pid! },
    tokens: (users) =>
      mapLimit(users, MINT_CONCURRENCY, async (user) => {
        const res = await fetch(`${cluster.auth.url}/v1/tokens`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ user, grants }),
        });
        if (!res.ok) throw new Error(`POST /v1/tokens answered ${res.status}: ${await res.text()}`);
        return ((await res.json()) as { token: string }).token;
      }),
    counters: async () => ({ ...(await jetStreamApiRequests(cluster.nats.monitorUrl)), redisCommands: await redisCommandsProcessed(cluster.redis.url) }),
    killNode: async (index) => {
      await cluster.gateways[index]!.stop('SIGKILL');
    },
    stop: () => cluster.stop(),
  };
}

/**
 * Centrifugo with its Redis engine: Redis carries both the PUB/SUB between nodes and the history
 * streams, which is what lets a client recover on another node (the NATS broker keeps no history,
 * and the memory engine's history lives in one node). Every channel keeps history and recovers
 * (`force_recovery`); recovery replays up to `historySize` publications, like Parley's resume.
 */
async function startCentrifugo(options: StormSystemOptions): Promise<StormSystem> {
  if (!options.centrifugoBin) throw new Error('Centrifugo is not built');
  const secret = randomBytes(32).toString('hex');
  const redis = await startRedis();
  const config = join(mkdtempSync(join(tmpdir(), 'parley-storm-centrifugo-')), 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      token_hmac_secret_key: secret,
      engine: 'redis',
      redis_address: redis.url,
      allow_subscribe_for_client: true,
      allow_publish_for_subscriber: true,
      history_size: options.historySize,
      history_ttl: '3600s',
      force_recovery: true,
      client_recovery_max_publication_limit: options.historySize,
      client_channel_limit: 10_000,
      client_queue_max_size: SLOW_CONSUMER_BYTES,
      log_level: 'error',
    }),
  );
  const nodes: NodeProcess[] = [];
  const ports: number[] = [];
  try {
    for (let i = 0; i < NODES; i++) {
      const port = await freePort();
      ports.push(port);
      nodes.push(await startNode(`centrifugo-${i + 1}`, options.centrifugoBin, ['-c', config, '--address', '127.0.0.1', '--port', String(port), '--name', `node-${i + 1}`], {}, port, options.logDir));
    }
  } catch (error) {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await redis.stop();
    throw error;
  }
  return {
    name: 'centrifugo',
    mode: `Centrifugo: 3 nodes, Redis engine (one redis-server: PUB/SUB between nodes and history streams), history_size ${options.historySize}, force_recovery, no presence`,
    ports,
    nodePids: nodes.map((n) => n.child.pid!),
    brokers: { redis: redis.process.pid! },
    tokens: async (users) => users.map((u) => centrifugoToken(secret, u)),
    counters: async () => ({ redisCommands: await redisCommandsProcessed(redis.url) }),
    killNode: (index) => nodes[index]!.stop(),
    stop: async () => {
      await Promise.allSettled(nodes.map((n) => n.stop()));
      await redis.stop();
    },
  };
}

export function startStormSystem(name: StormSystemName, options: StormSystemOptions): Promise<StormSystem> {
  return name === 'parley' ? startParley(options) : startCentrifugo(options);
}

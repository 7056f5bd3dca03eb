import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster } from '@parley/cluster';
import { freePort, startNats, startRedis, waitForPort, type ServerProcess } from '@parley/testkit';
import type { SystemName } from './protocols.ts';

/** One system under test, started on loopback. */
export interface RunningSystem {
  name: SystemName;
  /** One port per node (gateway, bridge, Socket.IO server, Centrifugo node). */
  ports: number[];
  /** The node processes, whose CPU and memory are measured. */
  nodePids: number[];
  /** The broker processes (nats-server, redis-server). */
  brokerPids: number[];
  /** A token per user, for the systems that authenticate connections; undefined entries otherwise. */
  tokens(users: string[]): Promise<(string | undefined)[]>;
  stop(): Promise<void>;
}

export interface StartOptions {
  nodes: number;
  /** Folder with the Socket.IO packages. */
  peersDir?: string;
  centrifugoBin?: string;
  logDir: string;
  /** Extra environment for Parley's gateways (diagnosis: NODE_OPTIONS). */
  gatewayEnv?: Record<string, string>;
}

const HERE = fileURLToPath(new URL('.', import.meta.url));
/** Per-connection send buffer after which every system closes a slow client: 1 MiB, Parley's default. */
export const SLOW_CONSUMER_BYTES = 1024 * 1024;

export interface NodeProcess {
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startNode(name: string, command: string, args: string[], env: Record<string, string>, port: number, logDir: string): Promise<NodeProcess> {
  const log = createWriteStream(join(logDir, `${name}.log`));
  const child = spawn(command, args, { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before listening; see ${logDir}/${name}.log`))));
  exited.catch(() => {});
  await Promise.race([waitForPort(port, 20_000), exited]);
  return {
    child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await done;
      log.end();
    },
  };
}

export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}

async function startParley(options: StartOptions, name: 'parley' | 'parley-deflate' = 'parley'): Promise<RunningSystem> {
  const cluster = await startCluster({ gateways: options.nodes, output: options.logDir, env: { PARLEY_LOG_LEVEL: 'warn', PARLEY_DRAIN_MS: '0' }, ...(options.gatewayEnv && { gatewayEnv: options.gatewayEnv }) });
  try {
    // The defaults (20 messages/s per connection, 10,000 connections per gateway) are product
    // limits, not capacity: lift them for the tenant of the benchmark, through the admin API.
    const res = await fetch(`${cluster.auth.url}/v1/admin/tenants/${cluster.demoNamespace}`, {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${cluster.adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ settings: { messagesPerSecond: 10_000, burst: 100_000, maxConnections: 1_000_000 } }),
    });
    if (!res.ok) throw new Error(`PATCH tenant settings answered ${res.status}: ${await res.text()}`);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  const grants = { '*': ['subscribe', 'publish'] };
  return {
    name,
    ports: cluster.gateways.map((g) => Number(new URL(g.url).port)),
    nodePids: cluster.gateways.map((g) => g.child!.pid!),
    brokerPids: [cluster.nats.process.pid!, cluster.redis.process.pid!],
    tokens: (users) =>
      mapLimit(users, 32, async (user) => {
        const res = await fetch(`${cluster.auth.url}/v1/tokens`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${cluster.demoApiKey}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ user, grants }),
        });
        if (!res.ok) throw new Error(`POST /v1/tokens answered ${res.status}: ${await res.text()}`);
        return ((await res.json()) as { token: string }).token;
      }),
    stop: () => cluster.stop(),
  };
}

async function startNodes(options: StartOptions, broker: ServerProcess, makeNode: (index: number, port: number) => Promise<NodeProcess>) {
  const nodes: NodeProcess[] = [];
  const ports: number[] = [];
  try {
    for (let i = 0; i < options.nodes; i++) {
      const port = await freePort();
      ports.push(port);
      nodes.push(await makeNode(i, port));
    }
  } catch (error) {
    await Promise.allSettled([...nodes.map((n) => n.stop()), broker.stop()]);
    throw error;
  }
  return {
    ports,
    nodePids: nodes.map((n) => n.child.pid!),
    brokerPids: [broker.process.pid!],
    stop: async () => {
      await Promise.allSettled(nodes.map((n) => n.stop()));
      await broker.stop();
    },
  };
}

const node = process.execPath;
const nodeArgs = (script: string) => ['--disable-warning=ExperimentalWarning', join(HERE, 'servers', script)];

/**
 * The bare bridge; `uws-nats-envelope` is the same bridge wrapping each message in an envelope of
 * the size of Parley's (ts, msgId, from), so that its ratio to Parley is Parley's work alone and
 * its ratio to `uws-nats` is the cost of the bytes.
 */
async function startUwsNats(options: StartOptions, name: 'uws-nats' | 'uws-nats-envelope'): Promise<RunningSystem> {
  const nats = await startNats();
  const env = { NATS_URL: nats.url, ...(name === 'uws-nats-envelope' && { BRIDGE_ENVELOPE: 'parley' }) };
  const started = await startNodes(options, nats, (i, port) => startNode(`${name}-${i + 1}`, node, nodeArgs('uws-nats-bridge.ts'), { PORT: String(port), ...env }, port, options.logDir));
  return { name, ...started, tokens: async (users) => users.map(() => undefined) };
}

async function startSocketIo(options: StartOptions): Promise<RunningSystem> {
  if (!options.peersDir) throw new Error('Socket.IO packages are not installed');
  const redis = await startRedis();
  const started = await startNodes(options, redis, (i, port) =>
    startNode(`socketio-${i + 1}`, node, nodeArgs('socketio-server.ts'), { PORT: String(port), REDIS_URL: redis.url, PEERS_DIR: options.peersDir! }, port, options.logDir),
  );
  try {
    await checkSocketIoWithItsClient(options.peersDir, started.ports);
  } catch (error) {
    await started.stop();
    throw error;
  }
  return { name: 'socketio-redis', ...started, tokens: async (users) => users.map(() => undefined) };
}

/**
 * Before measuring Socket.IO with the lean generator's own Engine.IO framing, the official
 * `socket.io-client` checks the setup: a message published on one node reaches a member on the
 * other, through the Redis adapter.
 */
async function checkSocketIoWithItsClient(peersDir: string, ports: number[]) {
  const { io } = createRequire(join(peersDir, 'package.json'))('socket.io-client') as {
    io: (url: string, options: object) => { on(e: string, f: (...a: unknown[]) => void): void; once(e: string, f: (...a: unknown[]) => void): void; emit(e: string, ...a: unknown[]): void; close(): void };
  };
  const [a, b] = [ports[0]!, ports[ports.length - 1]!].map((port) => io(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false }));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('socket.io-client check: no message across nodes within 5 s')), 5000);
      a!.on('message', (data) => {
        if ((data as { check?: boolean }).check) {
          clearTimeout(timer);
          resolve();
        }
      });
      a!.once('joined', () => b!.emit('publish', 'check-room', { check: true }));
      a!.emit('join', 'check-room');
    });
  } finally {
    a!.close();
    b!.close();
  }
}

/** An HS256 connection token as Centrifugo expects (`sub`, `exp`). */
export function centrifugoToken(secret: string, user: string) {
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: user, exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

async function startCentrifugo(options: StartOptions): Promise<RunningSystem> {
  if (!options.centrifugoBin) throw new Error('Centrifugo is not built');
  const secret = randomBytes(32).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-centrifugo-'));
  const config = join(dir, 'config.json');
  // Equivalent settings: JWT per connection, any subscriber may publish (like a room grant),
  // no presence or history, slow clients disconnected over 1 MiB of queued data.
  writeFileSync(
    config,
    JSON.stringify({
      token_hmac_secret_key: secret,
      allow_subscribe_for_client: true,
      allow_publish_for_subscriber: true,
      client_queue_max_size: SLOW_CONSUMER_BYTES,
      log_level: 'error',
    }),
  );
  const nats = await startNats();
  const started = await startNodes(options, nats, (i, port) =>
    startNode(`centrifugo-${i + 1}`, options.centrifugoBin!, ['-c', config, '--address', '127.0.0.1', '--port', String(port), '--broker', 'nats', '--nats_url', nats.url, '--name', `node-${i + 1}`], {}, port, options.logDir),
  );
  return { name: 'centrifugo', ...started, tokens: async (users) => users.map((u) => centrifugoToken(secret, u)) };
}

export function startSystem(name: SystemName, options: StartOptions): Promise<RunningSystem> {
  switch (name) {
    case 'parley':
      return startParley(options);
    case 'parley-deflate':
      return startParley({ ...options, gatewayEnv: { ...options.gatewayEnv, PARLEY_WS_COMPRESSION: 'on' } }, 'parley-deflate');
    case 'uws-nats':
    case 'uws-nats-envelope':
      return startUwsNats(options, name);
    case 'socketio-redis':
      return startSocketIo(options);
    case 'centrifugo':
      return startCentrifugo(options);
  }
}

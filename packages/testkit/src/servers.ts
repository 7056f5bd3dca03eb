import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort, waitForReply } from './ports.ts';

/** A real server process started by a test; `stop` kills it, `restart` starts it again on the same port. */
export interface ServerProcess {
  readonly port: number;
  readonly url: string;
  readonly process: ChildProcess;
  /** SIGKILL (default) or SIGTERM, and wait for exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the same server again on the same port (state is gone unless it was on disk). */
  restart(): Promise<void>;
}

/** How to tell that the server this process started answers on the port (and not another one). */
type Greeting = (child: ChildProcess) => { send?: string; accept(received: string): boolean };

function startProcess(command: string, args: () => string[], port: number, url: string, greeting: Greeting): Promise<ServerProcess> {
  let child: ChildProcess;
  let output = '';
  const launch = async () => {
    child = spawn(command, args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d) => (output = (output + d).slice(-4000)));
    child.stderr?.on('data', (d) => (output = (output + d).slice(-4000)));
    const exited = new Promise<never>((_, reject) =>
      child.once('close', (code) => reject(new Error(`${command} exited with ${code} before listening:\n${output}`))),
    );
    exited.catch(() => {});
    await Promise.race([waitForReply(port, greeting(child)), exited]);
  };
  const stop = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await done;
  };
  const server: ServerProcess = {
    port,
    url,
    get process() {
      return child;
    },
    stop,
    async restart() {
      await stop();
      await launch();
    },
  };
  return launch().then(() => server);
}

/**
 * A real `redis-server` on a free loopback port, keeping nothing on disk; with `persistDir`, an
 * append-only file there, written and fsynced before each reply (`appendfsync always`: with
 * `everysec`, Redis may hold a write back for up to 2 s while the disk is busy, and a SIGKILL then
 * loses an acknowledged write), so a restart — even after SIGKILL — keeps every acknowledged write.
 * The right choice for a control-plane store (tenants, keys: few writes).
 */
export async function startRedis(options: { persistDir?: string; /** Listen address instead of loopback (another network namespace reaches it). */ bind?: string } = {}): Promise<ServerProcess> {
  const persistence = options.persistDir ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', options.persistDir] : [];
  const bind = options.bind ? ['--bind', options.bind, '--protected-mode', 'no'] : [];
  return onAFreePort((port) => startRedisWith(port, [...persistence, ...bind]));
}

/**
 * Starts a server on a free port, and on another one if that port was taken between choosing it
 * and listening (by another test's server or an outgoing connection).
 */
export async function onAFreePort<T>(start: (port: number) => Promise<T>, choosePort: () => Promise<number> = freePort, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await choosePort());
    } catch (error) {
      if (attempt >= attempts || !/address already in use/i.test((error as Error).message)) throw error;
    }
  }
}

/** A real `redis-server` on `port` (loopback; nothing on disk unless `args` asks for it) with extra arguments, which win over the defaults. */
/** Redis ready to serve (PING answers +PONG, not -LOADING) and ours (INFO names our pid). */
const redisGreeting: Greeting = (child) => ({
  send: 'PING\r\nINFO server\r\n',
  accept: (received) => received.startsWith('+PONG') && received.includes(`process_id:${child.pid}\r\n`),
});

export function startRedisWith(port: number, args: string[] = []): Promise<ServerProcess> {
  return startProcess('redis-server', () => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], port, `redis://127.0.0.1:${port}`, redisGreeting);
}

export interface NatsOptions {
  jetstream?: boolean;
  /** Extra command-line arguments (cluster routes, for example). */
  args?: string[];
  /** Also expose the HTTP monitoring endpoint (for subscription accounting). */
  monitor?: boolean;
  /** Client port to listen on (a test that starts the server after its client); default a free one. */
  port?: number;
  /** With `jetstream`: the JetStream domain (a federation region's name). */
  jetstreamDomain?: string;
  /** Leaf node links (federation): accept them on `listen`, and/or connect to `remotes`. */
  leafnodes?: { listen?: { host: string; port: number }; remotes?: Array<{ url: string; denyExports?: string[]; denyImports?: string[] }> };
}

export type NatsProcess = ServerProcess & {
  /** `http://127.0.0.1:<port>` when started with `monitor: true`. */
  monitorUrl?: string;
  /** Stops the server and removes its JetStream store folder, if any. */
  cleanup(): Promise<void>;
};

/** A real `nats-server` on a free loopback port. With JetStream, its store is a temporary folder. */
export async function startNats(options: NatsOptions = {}): Promise<NatsProcess> {
  return options.port ? startNatsOn(options.port, options) : onAFreePort((port) => startNatsOn(port, options));
}

async function startNatsOn(port: number, options: NatsOptions): Promise<NatsProcess> {
  const monitorPort = options.monitor ? await freePort() : undefined;
  const storeDir = options.jetstream ? mkdtempSync(join(tmpdir(), 'parley-js-')) : undefined;
  const given = options.args?.findIndex((a) => a === '--server_name' || a === '-n' || a === '--name') ?? -1;
  const name = given >= 0 ? options.args![given + 1]! : `parley-test-${randomUUID()}`;
  // A domain and leaf nodes have no command-line flags: they go in a configuration file.
  const configFile = options.jetstreamDomain || options.leafnodes ? join(mkdtempSync(join(tmpdir(), 'parley-nats-conf-')), 'nats.conf') : undefined;
  if (configFile) writeFileSync(configFile, natsConfig(storeDir, options));
  const args = () => [
    '-a', '127.0.0.1', '-p', String(port), ...(given >= 0 ? [] : ['-n', name]),
    ...(monitorPort ? ['-m', String(monitorPort)] : []),
    ...(configFile ? ['-c', configFile] : storeDir ? ['-js', '-sd', storeDir] : []),
    ...(options.args ?? []),
  ];
  const server = await startProcess('nats-server', args, port, `nats://127.0.0.1:${port}`, () => ({ accept: (received) => received.startsWith('INFO') && received.includes(`"server_name":"${name}"`) })).catch((error: unknown) => {
    if (storeDir) rmSync(storeDir, { recursive: true, force: true });
    throw error;
  });
  if (monitorPort) await waitForPort(monitorPort);
  return Object.assign(server, {
    ...(monitorPort && { monitorUrl: `http://127.0.0.1:${monitorPort}` }),
    cleanup: async () => {
      await server.stop();
      if (storeDir) rmSync(storeDir, { recursive: true, force: true });
    },
  });
}

/** The configuration file of a server with a JetStream domain or leaf node links (strings JSON-quoted). */
function natsConfig(storeDir: string | undefined, options: NatsOptions): string {
  const q = (value: string) => JSON.stringify(value);
  const list = (values: string[]) => `[${values.map(q).join(', ')}]`;
  const lines: string[] = [];
  if (storeDir) lines.push(`jetstream { store_dir: ${q(storeDir)}${options.jetstreamDomain ? `, domain: ${q(options.jetstreamDomain)}` : ''} }`);
  const leaf = options.leafnodes;
  if (leaf) {
    const remotes = (leaf.remotes ?? []).map(
      (r) => `{ url: ${q(r.url)}${r.denyExports ? `, deny_exports: ${list(r.denyExports)}` : ''}${r.denyImports ? `, deny_imports: ${list(r.denyImports)}` : ''} }`,
    );
    lines.push(`leafnodes { ${leaf.listen ? `host: ${q(leaf.listen.host)}, port: ${leaf.listen.port}, ` : ''}remotes: [ ${remotes.join(', ')} ] }`);
  }
  return `${lines.join('\n')}\n`;
}

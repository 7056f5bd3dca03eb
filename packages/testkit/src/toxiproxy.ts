import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';

/** The tool builder, resolved when a Toxiproxy is started (testkit is also imported by browser-like test environments). */
const ensureTool = () => fileURLToPath(new URL('../../../scripts/ensure-tool.sh', import.meta.url));

/** A real Toxiproxy (the pinned build of `scripts/ensure-tool.sh toxiproxy`) and its HTTP API. */
export interface Toxiproxy {
  readonly apiUrl: string;
  /** A TCP proxy `name` listening on `listen` (`host:port`) and forwarding to `upstream`. */
  addProxy(name: string, listen: string, upstream: string): Promise<void>;
  /** Delays every byte by `ms` in each direction (a link whose round trip grows by 2 × `ms`). */
  addLatency(name: string, ms: number): Promise<void>;
  /** Disabled: its connections are closed and it refuses new ones (the link is cut); enabled again: it listens. */
  setEnabled(name: string, enabled: boolean): Promise<void>;
  stop(): Promise<void>;
}

/** Starts Toxiproxy's server on `host` (default loopback) and a free port for its API. */
export async function startToxiproxy(options: { host?: string } = {}): Promise<Toxiproxy> {
  const binary = execFileSync('bash', [ensureTool(), 'toxiproxy'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const host = options.host ?? '127.0.0.1';
  const port = await freePort();
  const child: ChildProcess = spawn(binary, ['-host', host, '-port', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const apiUrl = `http://${host}:${port}`;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${apiUrl}${path}`, { method, ...(body !== undefined && { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
    if (!res.ok) throw new Error(`toxiproxy ${method} ${path}: ${res.status} ${await res.text()}`);
    return res;
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`toxiproxy exited (${child.exitCode}):\n${output}`);
    try {
      await api('GET', '/version');
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`toxiproxy did not answer on ${apiUrl}: ${(error as Error).message}\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    apiUrl,
    async addProxy(name, listen, upstream) {
      await api('POST', '/proxies', { name, listen, upstream, enabled: true });
    },
    async addLatency(name, ms) {
      for (const stream of ['downstream', 'upstream']) await api('POST', `/proxies/${name}/toxics`, { name: `latency-${stream}`, type: 'latency', stream, attributes: { latency: ms, jitter: 0 } });
    },
    async setEnabled(name, enabled) {
      await api('POST', `/proxies/${name}`, { enabled });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import type { ClusterOptions } from '../../src/cluster.ts';
import type { RegionReady } from '../../src/region-main.ts';
import { REPO_ROOT } from '../../src/service-process.ts';
import type { Namespace } from './namespaces.ts';

/** A region (`src/region-main.ts`) running in a network namespace, as its own process group. */
export interface RegionProcess {
  name: string;
  ns: Namespace;
  ready: RegionReady;
  /** `http://<namespace address>:<port>` of a service port inside the region. */
  url(port: number): string;
  gatewayWs(index: number): string;
  /** The auth service, shaped for `mintUserToken` and the admin helpers. */
  auth: { url: string };
  /** SIGKILL to every process of the region at once: the region is gone. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRegionProcess(name: string, ns: Namespace, options: ClusterOptions & { leafLinks?: number }, logDir: string): Promise<RegionProcess> {
  const log = createWriteStream(join(logDir, `region-${name}.log`));
  const child: ChildProcess = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '--disable-warning=ExperimentalWarning', 'apps/cluster/src/region-main.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, PARLEY_REGION_SPEC: JSON.stringify({ listenHost: '0.0.0.0', output: join(logDir, name), ...options }) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stderr?.pipe(log, { end: false });
  const ready = await new Promise<RegionReady>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`region ${name} not ready after 60 s (see ${logDir})`)), 60_000);
    child.stdout?.on('data', (d: Buffer) => {
      log.write(d);
      buffered += d.toString();
      const line = buffered.split('\n').find((l) => l.startsWith('PARLEY_REGION_READY '));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line.slice('PARLEY_REGION_READY '.length)) as RegionReady);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`region ${name} exited (${code}) before it was ready (see ${logDir})`));
    });
  });
  child.stdout?.on('data', (d: Buffer) => log.write(d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = (port: number) => `http://${ns.address}:${port}`;
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  return {
    name,
    ns,
    ready,
    url,
    gatewayWs: (index) => `ws://${ns.address}:${ready.gateways[index]}/v1/ws`,
    auth: { url: url(ready.auth) },
    async kill() {
      signalGroup('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
      // Servers the region started (NATS, Redis) are in its process group too.
      signalGroup('SIGKILL');
      log.end();
    },
  };
}

/**
 * Proves the production image's steps without a Docker engine (scripts/image-smoke.sh runs this).
 *
 * 1. Reads the Dockerfile: every COPY from the build context (honouring .dockerignore) is
 *    repeated into a temporary /app, and every RUN that runs npm (`npm ci --omit=dev`) is run
 *    there. RUN steps that install system packages (apt-get tini) are not repeated.
 * 2. Makes that folder read-only (a read-only bind mount in a private mount namespace when
 *    `unshare` allows it, else file permissions), like the image's read-only root filesystem.
 * 3. Starts `redis-server` and `nats-server` on loopback when they are installed (the presence
 *    service needs both; ./parley's userland has them), then each service target's CMD exactly as
 *    written, with the image's ENV, on loopback ports, in dependency order (auth, presence,
 *    gateway, webhooks), and polls /readyz until it answers 200; runs the target's HEALTHCHECK command.
 * 4. Sends SIGTERM and checks that every process exits with code 0 within its drain + 5 s.
 *
 * Services whose main.ts does not exist yet are reported and skipped; when none exists, it fails.
 * Usage: node deploy/docker/image-smoke.ts [--keep] [service …]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDockerignore, readDockerfile, type Stage } from './dockerfile.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const IMAGE_APP_DIR = '/app';
const START_ORDER = ['auth', 'presence', 'gateway', 'webhooks'] as const;
type Service = (typeof START_ORDER)[number];
/** The drain the smoke gives every service (PARLEY_DRAIN_MS), so stopping stays quick. */
const DRAIN_MS = 1000;
const READY_TIMEOUT_MS = 30_000;
const EXIT_MARGIN_MS = 5000;

const log = (message: string) => process.stdout.write(`[image-smoke] ${message}\n`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Copies a context path to dest, leaving out what .dockerignore excludes. */
function copyFromContext(source: string, dest: string, ignored: (path: string) => boolean): void {
  const from = join(REPO, source);
  if (!existsSync(from)) throw new Error(`COPY ${source}: not in the build context`);
  if (ignored(source)) throw new Error(`COPY ${source}: excluded by .dockerignore`);
  if (statSync(from).isDirectory()) {
    cpSync(from, dest, {
      recursive: true,
      filter: (path) => !ignored(relative(REPO, path)) && !lstatSync(path).isSymbolicLink(),
    });
  } else {
    mkdirSync(dirname(dest), { recursive: true });
    cpSync(from, dest);
  }
}

/** Repeats the build-context COPYs and npm RUNs of every stage into `app`. */
function buildApp(stages: Stage[], app: string): void {
  const ignored = createDockerignore(existsSync(join(REPO, '.dockerignore')) ? readFileSync(join(REPO, '.dockerignore'), 'utf8') : '');
  for (const stage of stages) {
    for (const copy of stage.copies) {
      if (copy.from !== undefined) continue;
      const destInImage = copy.dest.startsWith('/') ? copy.dest : join(stage.workdir, copy.dest);
      if (destInImage !== IMAGE_APP_DIR && !destInImage.startsWith(`${IMAGE_APP_DIR}/`)) {
        throw new Error(`COPY to ${destInImage}: the smoke only reproduces copies into ${IMAGE_APP_DIR}`);
      }
      const destDir = join(app, relative(IMAGE_APP_DIR, destInImage));
      for (const source of copy.sources) {
        const intoFolder = copy.dest.endsWith('/') || copy.sources.length > 1;
        const target = intoFolder ? join(destDir, source.split('/').pop()!) : destDir;
        copyFromContext(source, target, ignored);
      }
    }
    for (const run of stage.runs.filter((r) => /^npm\s/.test(r))) {
      // --prefer-offline reuses the local npm cache; the lockfile's integrity hashes still decide what is installed.
      const command = run.replace(/^npm ci\b/, 'npm ci --prefer-offline');
      log(`stage ${stage.name}: ${command}`);
      const result = spawnSync('sh', ['-c', command], { cwd: app, stdio: 'inherit', env: { ...process.env, NODE_ENV: stage.env.NODE_ENV ?? 'production' } });
      if (result.status !== 0) throw new Error(`stage ${stage.name}: "${run}" failed with ${result.status}`);
    }
  }
}

/** How to run a command with `app` read-only: the best isolation this host allows. */
function readOnlyRunner(app: string): { mode: string; wrap: (command: string[]) => string[] } {
  const script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && cd "$0" && exec "$@"';
  const prefixes = [['unshare', '--mount', '--propagation', 'private'], ['unshare', '--user', '--map-root-user', '--mount', '--propagation', 'private']];
  // Inside ./parley's chroot the root is no mount point, so "private" cannot be set; ./parley has
  // already made every mount private, so the new namespace's mounts cannot leak out either.
  if (process.env.PARLEY_IN_USERLAND) prefixes.push(['unshare', '--mount', '--propagation', 'unchanged']);
  for (const prefix of prefixes) {
    const probe = spawnSync(prefix[0]!, [...prefix.slice(1), '--', 'sh', '-c', `${script}`, app, 'sh', '-c', 'touch .write-probe 2>/dev/null && exit 1 || exit 0'], { stdio: 'ignore' });
    if (probe.status === 0) return { mode: 'read-only bind mount', wrap: (command) => [...prefix, '--', 'sh', '-c', script, app, ...command] };
  }
  spawnSync('chmod', ['-R', 'a-w', app]);
  return { mode: 'read-only file permissions (no mount namespace available)', wrap: (command) => command };
}

/** Starts a helper server (redis-server, nats-server) on a free loopback port, or returns undefined when it is not installed. */
async function startHelper(name: string, args: (port: number) => string[], scheme: string): Promise<{ url: string; child: ChildProcess } | undefined> {
  if (spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status !== 0) return undefined;
  const port = await freePort();
  const child = spawn(name, args(port), { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => (socket.end(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (open) return { url: `${scheme}://127.0.0.1:${port}`, child };
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${name} did not start on port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Running {
  service: Service;
  port: number;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

async function waitReady(running: Running): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer';
  let gone = false;
  void running.exited.then(() => (gone = true));
  while (Date.now() < deadline) {
    if (gone) throw new Error(`${running.service} exited before it was ready:\n${running.output()}`);
    try {
      const response = await fetch(`http://127.0.0.1:${running.port}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (response.status === 200) return;
      last = `HTTP ${response.status} ${await response.text()}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${running.service} /readyz never answered 200 (last: ${last}):\n${running.output()}`);
}

async function main(argv: string[]): Promise<void> {
  const keep = argv.includes('--keep');
  const only = argv.filter((a) => !a.startsWith('--'));
  const stages = readDockerfile(join(REPO, 'Dockerfile'));
  const targets = new Map(stages.filter((s) => (START_ORDER as readonly string[]).includes(s.name)).map((s) => [s.name as Service, s]));

  const services: Service[] = [];
  for (const service of START_ORDER) {
    if (only.length > 0 && !only.includes(service)) continue;
    const stage = targets.get(service);
    if (!stage?.cmd) throw new Error(`the Dockerfile has no target "${service}" with a CMD`);
    const main = stage.cmd.find((part) => part.endsWith('.ts'));
    if (!main || !existsSync(join(REPO, main))) {
      log(`skip ${service}: ${main ?? 'its main file'} does not exist yet`);
      continue;
    }
    services.push(service);
  }
  if (services.length === 0) throw new Error('no service to start: nothing would be proven');

  const root = mkdtempSync(join(tmpdir(), 'parley-image-'));
  const app = join(root, 'app');
  mkdirSync(app);
  const running: Running[] = [];
  const helpers: ChildProcess[] = [];
  try {
    log(`reproducing the image in ${app}`);
    buildApp(stages, app);
    const runner = readOnlyRunner(app);
    log(`the app folder is ${runner.mode}`);

    const redis = await startHelper('redis-server', (port) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], 'redis');
    const nats = await startHelper('nats-server', (port) => ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(root, 'jetstream')], 'nats');
    for (const helper of [redis, nats]) if (helper) helpers.push(helper.child);
    log(redis && nats ? `NATS ${nats.url} and Redis ${redis.url} started` : 'nats-server or redis-server not installed: services use their in-memory adapters');
    if (!nats && services.includes('webhooks')) {
      services.splice(services.indexOf('webhooks'), 1);
      log('skip webhooks: the dispatcher needs NATS with JetStream');
    }

    // Chosen before any service listens, so a free port can come back twice: keep them distinct.
    const ports = new Map<Service, number>();
    for (const service of services) {
      let port = await freePort();
      while ([...ports.values()].includes(port)) port = await freePort();
      ports.set(service, port);
    }
    const authUrl = `http://127.0.0.1:${ports.get('auth') ?? (await freePort())}`;

    for (const service of services) {
      const stage = targets.get(service)!;
      const port = ports.get(service)!;
      const dataDir = join(root, `data-${service}`);
      mkdirSync(dataDir);
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...stage.env,
        HOST: '127.0.0.1',
        PORT: String(port),
        PARLEY_LOG_LEVEL: 'warn',
        PARLEY_DRAIN_MS: String(DRAIN_MS),
        PARLEY_DATA_DIR: dataDir,
        PARLEY_ADMIN_TOKEN: randomBytes(24).toString('base64url'),
        PARLEY_AUTH_URL: authUrl,
        PARLEY_JWKS_URL: `${authUrl}/.well-known/jwks.json`,
        PARLEY_GATEWAY_ID: 'image-smoke',
        PARLEY_PRESENCE_ID: 'image-smoke',
        PARLEY_WEBHOOKS_ID: 'image-smoke',
        ...(redis && { REDIS_URL: redis.url }),
        ...(nats && { NATS_URL: nats.url }),
      };
      const command = runner.wrap(stage.cmd!);
      log(`start ${service}: ${stage.cmd!.join(' ')} (port ${port})`);
      const child = spawn(command[0]!, command.slice(1), { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      const collect = (chunk: Buffer) => {
        output = (output + chunk.toString()).slice(-8000);
      };
      child.stdout!.on('data', collect);
      child.stderr!.on('data', collect);
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const entry: Running = { service, port, child, output: () => output, exited };
      running.push(entry);
      await waitReady(entry);
      log(`ok ${service}: /readyz answered 200`);
      if (stage.healthcheck) {
        const check = spawnSync(stage.healthcheck[0]!, stage.healthcheck.slice(1), { cwd: app, env, encoding: 'utf8', timeout: 10_000 });
        if (check.status !== 0) throw new Error(`${service}: HEALTHCHECK ${stage.healthcheck.join(' ')} exited ${check.status}`);
        log(`ok ${service}: HEALTHCHECK passed`);
      }
    }

    for (const entry of [...running].reverse()) {
      const started = Date.now();
      entry.child.kill('SIGTERM');
      const limit = DRAIN_MS + EXIT_MARGIN_MS;
      const code = await Promise.race([entry.exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), limit))]);
      if (code === 'timeout') throw new Error(`${entry.service} did not exit within ${limit} ms of SIGTERM:\n${entry.output()}`);
      if (code !== 0) throw new Error(`${entry.service} exited with ${code} after SIGTERM:\n${entry.output()}`);
      log(`ok ${entry.service}: exited 0, ${Date.now() - started} ms after SIGTERM`);
    }
    log(`passed: ${services.join(', ')} started from the image's CMD, became ready and stopped cleanly`);
  } finally {
    for (const entry of running) if (entry.child.exitCode === null && entry.child.signalCode === null) entry.child.kill('SIGKILL');
    for (const helper of helpers) helper.kill('SIGKILL');
    if (keep) log(`kept ${root}`);
    else {
      spawnSync('chmod', ['-R', 'u+w', root]);
      rmSync(root, { recursive: true, force: true });
    }
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  log(`FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

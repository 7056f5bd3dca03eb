import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, freePort, type TestClient } from '@parley/testkit';
import { REPO_ROOT } from './support/tools.ts';

const run = promisify(execFile);
const IMAGE = 'localhost/parley:test';
const DEMO_API_KEY = `pk_demo_${'k'.repeat(43)}`;

/**
 * The production image as the chart runs it: built from the repository's Dockerfile
 * (scripts/build-image.sh: buildah, a locally made base image), imported into a real containerd and
 * run by runc with the chart's pod security settings (uid 10001, read-only root filesystem with an
 * emptyDir-like tmpfs on /tmp, every capability dropped, the default seccomp profile), on the host
 * network on loopback. Auth and a gateway in containers serve a real chat.
 */
describe('image', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-image-'));
  const socket = join(dir, 'containerd.sock');
  let containerd: ChildProcess | undefined;
  const containers = new Map<string, { child: ChildProcess; exited: Promise<number | null> }>();
  const clients: TestClient[] = [];
  let authPort = 0;
  let gatewayPort = 0;

  const ctr = (...args: string[]) => run('ctr', ['--address', socket, '--namespace', 'parley', ...args], { maxBuffer: 16 * 1024 * 1024 });

  /** Runs a container in the foreground of a `ctr run` child, which exits with the container's exit code. */
  const start = (name: string, env: Record<string, string>, command: string[]) => {
    const log = createWriteStream(join(dir, `${name}.log`));
    const child = spawn(
      'ctr',
      [
        '--address', socket, '--namespace', 'parley', 'run', '--rm', '--net-host', '--read-only', '--user', '10001:10001', '--cap-drop', 'CAP_ALL', '--seccomp',
        '--mount', 'type=tmpfs,src=tmpfs,dst=/tmp,options=rw:nosuid:nodev:noexec',
        ...Object.entries(env).flatMap(([key, value]) => ['--env', `${key}=${value}`]),
        // ctr's arguments replace the whole process; the chart's `args` keep the image's ENTRYPOINT (tini).
        IMAGE, name, '/usr/bin/tini', '--', ...command,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    containers.set(name, { child, exited });
  };

  const pidOf = async (name: string) => {
    const { stdout } = await ctr('tasks', 'ls');
    const row = stdout.split('\n').find((line) => line.split(/\s+/)[0] === name);
    return Number(row?.split(/\s+/)[1]);
  };

  const ready = async (port: number, name: string) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
      if (res?.ok) return;
      if (Date.now() > deadline) throw new Error(`${name} not ready on ${port}: ${readFileSync(join(dir, `${name}.log`), 'utf8').slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  beforeAll(async () => {
    const archive = join(dir, 'parley.oci.tar');
    await run('bash', [join(REPO_ROOT, 'scripts/build-image.sh'), '--tag', IMAGE, '--out', archive], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
    const log = createWriteStream(join(dir, 'containerd.log'));
    containerd = spawn('containerd', ['--root', join(dir, 'root'), '--state', join(dir, 'state'), '--address', socket], { stdio: ['ignore', 'pipe', 'pipe'] });
    containerd.stdout?.pipe(log);
    containerd.stderr?.pipe(log);
    const deadline = Date.now() + 15_000;
    while (!(await ctr('version').then(() => true, () => false))) {
      if (Date.now() > deadline) throw new Error(`containerd did not start: ${readFileSync(join(dir, 'containerd.log'), 'utf8').slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await ctr('images', 'import', archive);
    [authPort, gatewayPort] = [await freePort(), await freePort()];
    start('auth', { HOST: '127.0.0.1', PORT: String(authPort), PARLEY_DATA_DIR: '/tmp/data', PARLEY_DEMO_API_KEY: DEMO_API_KEY, PARLEY_DRAIN_MS: '0' }, ['node', 'services/auth/src/main.ts']);
    await ready(authPort, 'auth');
    start(
      'gateway',
      { HOST: '127.0.0.1', PORT: String(gatewayPort), PARLEY_GATEWAY_ID: 'image-gw', PARLEY_JWKS_URL: `http://127.0.0.1:${authPort}/.well-known/jwks.json`, PARLEY_DRAIN_MS: '1000' },
      ['node', '--max-semi-space-size=8', 'services/gateway/src/main.ts'],
    );
    await ready(gatewayPort, 'gateway');
  }, 600_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    for (const [name, { exited }] of containers) {
      await ctr('tasks', 'kill', '--signal', 'SIGKILL', name).catch(() => undefined);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      await ctr('containers', 'delete', name).catch(() => undefined);
    }
    containerd?.kill('SIGTERM');
    if (containerd && containerd.exitCode === null) await new Promise((r) => containerd!.once('exit', r));
    // Mounts containerd left (snapshots, shims' state), then its files.
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((line) => line.split(' ')[4]).filter((m): m is string => m?.startsWith(dir) ?? false);
    for (const mount of mounts.reverse()) await run('umount', ['-l', mount]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('image - auth and the gateway run as uid 10001, without capabilities, on a read-only root filesystem, and are ready', async () => {
    for (const name of ['auth', 'gateway']) {
      const pid = await pidOf(name);
      expect(pid, name).toBeGreaterThan(0);
      // tini (the image's entrypoint) is PID 1 of the container; the service is its child.
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0], `${name}: init`).toBe('/usr/bin/tini');
      const service = Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')[0]);
      expect(readFileSync(`/proc/${service}/cmdline`, 'utf8').split('\0')[0], `${name}: service`).toBe('node');
      for (const process of [pid, service]) {
        const status = readFileSync(`/proc/${process}/status`, 'utf8');
        expect(status, `${name} ${process}`).toMatch(/^Uid:\s+10001\s+10001\s+10001\s+10001$/m);
        expect(status).toMatch(/^CapEff:\s+0+$/m);
        const root = readFileSync(`/proc/${process}/mountinfo`, 'utf8').split('\n').find((line) => line.split(' ')[4] === '/');
        expect(root?.split(' ')[5]?.split(','), `${name}: root mount options`).toContain('ro');
      }
    }
    expect(await (await fetch(`http://127.0.0.1:${gatewayPort}/readyz`)).json()).toMatchObject({ status: 'ready' });
  });

  it('image - two clients chat through the containerized gateway with tokens from the containerized auth', async () => {
    const mint = async (user: string) => {
      const res = await fetch(`http://127.0.0.1:${authPort}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${DEMO_API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user, grants: { '*': ['subscribe', 'publish', 'presence'] } }),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { token: string }).token;
    };
    const [alice, bob] = await Promise.all(['alice', 'bob'].map(async (user) => connectClient(`ws://127.0.0.1:${gatewayPort}/v1/ws`, { token: await mint(user) })));
    clients.push(alice!, bob!);
    for (const c of [alice!, bob!]) {
      await c.waitFor('welcome');
      expect(await c.request({ type: 'join', room: 'from-the-image' })).toMatchObject({ type: 'joined' });
    }
    expect(await alice!.request({ type: 'publish', room: 'from-the-image', data: 'hello from a container' })).toMatchObject({ type: 'ack' });
    expect(await bob!.waitFor((f) => f.type === 'message')).toMatchObject({ data: 'hello from a container', from: { user: 'alice' } });
  });

  it('image - SIGTERM drains the gateway: its client is told to reconnect, and the container exits 0', async () => {
    const client = await connectClient(`ws://127.0.0.1:${gatewayPort}/v1/ws`, {
      token: ((await (
        await fetch(`http://127.0.0.1:${authPort}/v1/tokens`, {
          method: 'POST',
          headers: { authorization: `Bearer ${DEMO_API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ user: 'carol', grants: { '*': ['subscribe'] } }),
        })
      ).json()) as { token: string }).token,
    });
    clients.push(client);
    await client.waitFor('welcome');
    await ctr('tasks', 'kill', '--signal', 'SIGTERM', 'gateway');
    expect(await client.waitFor('reconnect')).toMatchObject({ reason: 'shutdown' });
    expect((await client.closed).code).toBe(4000);
    const code = await Promise.race([containers.get('gateway')!.exited, new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
    expect(code).toBe(0);
    containers.delete('gateway');
  });
});

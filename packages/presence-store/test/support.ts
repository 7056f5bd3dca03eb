import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { freePort, waitForPort } from '@parley/testkit';
import { createPresenceRedisClient, PRESENCE_REDIS_OPTIONS } from '../src/redis.ts';

/** A presence-grade client (fail fast) on a test Redis. */
export function testRedisClient(url: string): Redis {
  return new Redis(url, PRESENCE_REDIS_OPTIONS);
}

/** Resolves when `check` returns true, polling; rejects after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A one-node Redis Cluster (all 16384 slots on one `redis-server`): enough to make Redis refuse
 * any command or script that spans slots, which is what a real cluster would refuse.
 */
export async function startRedisClusterNode(): Promise<{ port: number; client(): Cluster; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'parley-redis-cluster-'));
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-announce-ip', '127.0.0.1', '--cluster-config-file', join(dir, 'nodes.conf'), '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  await waitForPort(port);
  const admin = new Redis(port, '127.0.0.1');
  await admin.call('cluster', 'addslotsrange', '0', '16383');
  await eventually(async () => String(await admin.call('cluster', 'info')).includes('cluster_state:ok'), 10_000, 'cluster_state:ok');
  admin.disconnect();
  return {
    port,
    client: () => createPresenceRedisClient(`redis+cluster://127.0.0.1:${port}`) as Cluster,
    async stop() {
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await done;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.ts';
import { startRedisWith, type ServerProcess } from './servers.ts';

const run = promisify(execFile);

export interface RedisCluster {
  /** One `redis-server` per node, each holding an equal share of the slots (no replicas). */
  nodes: ServerProcess[];
  /** `redis+cluster://host:port,…`: the seed-node URL Parley's services accept. */
  url: string;
  stop(): Promise<void>;
}

/**
 * A real Redis Cluster of `size` masters on loopback, formed with `redis-cli --cluster create`,
 * returned once every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(size = 3): Promise<RedisCluster> {
  if (size < 3) throw new Error('a Redis Cluster needs at least 3 masters');
  const dir = mkdtempSync(join(tmpdir(), 'parley-redis-cluster-'));
  const nodes: ServerProcess[] = [];
  try {
    for (let i = 0; i < size; i++) {
      const port = await freePort();
      nodes.push(
        await startRedisWith(port, [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout', '2000',
          '--cluster-announce-ip', '127.0.0.1',
          '--dir', dir,
        ]),
      );
    }
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    await Promise.all(nodes.map((n) => waitForClusterOk(n.port, 20_000)));
  } catch (error) {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    nodes,
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    async stop() {
      await Promise.allSettled(nodes.map((n) => n.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForClusterOk(port: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = (await run('redis-cli', ['-p', String(port), 'cluster', 'info'], { timeout: 5000 }).catch((e: Error) => ({ stdout: e.message }))).stdout;
    if (last.includes('cluster_state:ok')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Redis Cluster node ${port} not ok within ${timeoutMs} ms:\n${last}`);
}

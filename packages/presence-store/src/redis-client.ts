import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** @default 1000: a presence command that has not answered after this long fails. */
export const DEFAULT_PRESENCE_COMMAND_TIMEOUT_MS = 1000;

/**
 * ioredis options for presence: fail fast during an outage instead of queueing commands in
 * memory (the offline queue is unbounded by default and commands would wait for 20 retries),
 * and reconnect forever with a short capped backoff. Gateways re-assert their entries with the
 * next heartbeat once Redis is back.
 */
export const PRESENCE_REDIS_OPTIONS = {
  enableOfflineQueue: false,
  commandTimeout: DEFAULT_PRESENCE_COMMAND_TIMEOUT_MS,
  maxRetriesPerRequest: 1,
  connectTimeout: 2000,
  retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
} satisfies RedisOptions;

/**
 * A client for `url`: `redis://` / `rediss://` for one Redis, or
 * `redis+cluster://host1:port1,host2:port2` for a Redis Cluster (seed nodes; commands are
 * auto-pipelined per node so a heartbeat batch stays one write per node).
 */
export function createPresenceRedisClient(url: string, overrides: Partial<RedisOptions> = {}): Redis | Cluster {
  if (url.startsWith('redis+cluster://') || url.startsWith('rediss+cluster://')) {
    const tls = url.startsWith('rediss+');
    const rest = url.slice(url.indexOf('://') + 3);
    const auth = rest.includes('@') ? rest.slice(0, rest.lastIndexOf('@')) : '';
    const hosts = rest.slice(auth ? auth.length + 1 : 0).replace(/\/.*$/, '');
    const nodes = hosts.split(',').map((hp) => {
      const [host, port] = hp.split(':');
      return { host: host ?? '127.0.0.1', port: Number(port ?? 6379) };
    });
    const [username, password] = auth ? auth.split(':').map(decodeURIComponent) : [];
    const { enableOfflineQueue: _offline, retryStrategy, ...redisOptions } = { ...PRESENCE_REDIS_OPTIONS, ...overrides };
    return new Cluster(nodes, {
      // ioredis's Cluster cannot pass its own ready check without its offline queue (the check
      // is sent before the status is "ready"): it stays on, and the store's ready gate plus the
      // command timeout keep calls from piling up during an outage.
      enableOfflineQueue: true,
      enableAutoPipelining: true,
      clusterRetryStrategy: retryStrategy,
      redisOptions: { ...redisOptions, ...(username && { username }), ...(password && { password }), ...(tls && { tls: {} }) },
    });
  }
  return new Redis(url, { ...PRESENCE_REDIS_OPTIONS, ...overrides });
}

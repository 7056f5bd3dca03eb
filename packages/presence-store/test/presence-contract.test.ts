import { startRedis } from '@parley/testkit';
import { createMemoryPresenceStore } from '../src/index.ts';
import { createRedisPresenceStore } from '../src/redis.ts';
import { presenceContract } from './presence-contract.ts';
import { startRedisClusterNode, testRedisClient } from './support.ts';

// Real time on Redis: short enough to keep the suite fast, long enough for a loaded machine.
const REDIS_TTL_MS = 500;

presenceContract('memory', async () => {
  let clock = 1_000_000;
  const store = createMemoryPresenceStore({ ttlMs: 1000, now: () => clock });
  return {
    store,
    other: store,
    ttlMs: 1000,
    async elapse(ms) {
      clock += ms;
    },
    teardown: () => store.close(),
  };
});

presenceContract('redis', async () => {
  const redis = await startRedis();
  const store = createRedisPresenceStore(testRedisClient(redis.url), { ttlMs: REDIS_TTL_MS });
  const other = createRedisPresenceStore(testRedisClient(redis.url), { ttlMs: REDIS_TTL_MS });
  return {
    store,
    other,
    ttlMs: REDIS_TTL_MS,
    elapse: (ms) => new Promise((r) => setTimeout(r, ms)),
    async teardown() {
      await Promise.all([store.close(), other.close()]);
      await redis.stop();
    },
  };
});

presenceContract('redis cluster', async () => {
  const node = await startRedisClusterNode();
  const store = createRedisPresenceStore(node.client(), { ttlMs: REDIS_TTL_MS, keyPrefix: 'app1:presence:' });
  const other = createRedisPresenceStore(node.client(), { ttlMs: REDIS_TTL_MS, keyPrefix: 'app1:presence:' });
  return {
    store,
    other,
    ttlMs: REDIS_TTL_MS,
    elapse: (ms) => new Promise((r) => setTimeout(r, ms)),
    async teardown() {
      await Promise.all([store.close(), other.close()]);
      await node.stop();
    },
  };
});

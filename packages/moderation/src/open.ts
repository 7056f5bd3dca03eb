import { createPresenceRedisClient } from '@parley/presence-store/redis';
import type { Cluster, Redis } from 'ioredis';
import { createMemoryModerationStore } from './memory-moderation-store.ts';
import type { ModerationStore } from './moderation-store.ts';
import { createRedisModerationStore } from './redis-moderation-store.ts';

/**
 * The moderation store the configuration asks for: Redis (`redis://…`, `redis+cluster://…`),
 * shared by every gateway and auth; without a URL, this process's memory.
 */
export function openModerationStore(config: { redisUrl?: string | undefined; redis?: Redis | Cluster | undefined }): { store: ModerationStore; redis: Redis | Cluster | undefined; owned: boolean } {
  if (config.redis) return { store: createRedisModerationStore(config.redis), redis: config.redis, owned: false };
  if (!config.redisUrl) return { store: createMemoryModerationStore(), redis: undefined, owned: false };
  const redis = createPresenceRedisClient(config.redisUrl);
  return { store: createRedisModerationStore(redis), redis, owned: true };
}

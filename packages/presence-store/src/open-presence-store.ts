import type { Cluster, Redis } from 'ioredis';
import { createMemoryPresenceStore } from './memory-presence-store.ts';
import type { PresenceStore } from './presence-store.ts';
import { createPresenceRedisClient } from './redis-client.ts';
import { createRedisPresenceStore } from './redis-presence-store.ts';

export interface PresenceStoreConfig {
  /** `redis://`, `rediss://`, `redis+cluster://` or `rediss+cluster://`; unset: in memory (one process). */
  redisUrl?: string | undefined;
  ttlMs: number;
  onError?: ((error: Error) => void) | undefined;
}

/** The presence store the configuration asks for, and its Redis client when it has one (for metrics). */
export function openPresenceStore(config: PresenceStoreConfig): { store: PresenceStore; redis: Redis | Cluster | undefined } {
  if (!config.redisUrl) return { store: createMemoryPresenceStore({ ttlMs: config.ttlMs }), redis: undefined };
  const redis = createPresenceRedisClient(config.redisUrl);
  return { store: createRedisPresenceStore(redis, { ttlMs: config.ttlMs, onError: config.onError }), redis };
}

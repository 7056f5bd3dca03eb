export {
  createRedisPresenceStore,
  DEFAULT_PRESENCE_KEY_GRACE_MS,
  DEFAULT_SWEEP_CONNECTIONS_PER_CALL,
  DEFAULT_SWEEP_MAX_ROUNDS,
  DEFAULT_SWEEP_ROOMS_PER_ROUND,
  type RedisPresenceStoreOptions,
} from './redis-presence-store.ts';
export { createPresenceRedisClient, DEFAULT_PRESENCE_COMMAND_TIMEOUT_MS, PRESENCE_REDIS_OPTIONS } from './redis-client.ts';
export { DEFAULT_PRESENCE_KEY_PREFIX } from './redis-keys.ts';
export { DEFAULT_READY_WAIT_MS } from './redis-runner.ts';

export { createPresenceApp, DEFAULT_PRESENCE_PORT, DEFAULT_READY_TIMEOUT_MS, OPENAPI_INFO, type PresenceApp, type PresenceAppDeps, type PresenceAppOptions } from './app.ts';
export { authenticate, requirePresenceGrant, type PresenceEnv, type Principal } from './auth-middleware.ts';
export {
  createAuthServiceKeyVerifier,
  createJwksUserTokenVerifier,
  createUserTokenVerifier,
  DEFAULT_AUTH_TIMEOUT_MS,
  DEFAULT_KEY_CACHE_MAX_ENTRIES,
  DEFAULT_KEY_CACHE_NEGATIVE_MS,
  DEFAULT_KEY_CACHE_POSITIVE_MS,
  type ApiKeyVerifier,
  type AuthServiceKeyVerifierOptions,
  type UserTokenVerifier,
} from './credentials.ts';
export { createPresenceMetrics, type PresenceMetrics } from './metrics.ts';
export { createSweeper, DEFAULT_MAX_PENDING_LEAVES, DEFAULT_SWEEP_INTERVAL_MS, type Sweeper, type SweeperDeps, type SweeperOptions } from './sweeper.ts';
export { PRESENCE_ENV, readPresenceConfig, type PresenceConfig } from './config.ts';

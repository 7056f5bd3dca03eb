export { DEFAULT_CLOCK_TOLERANCE_SECONDS, verifyUserToken } from './verify-user-token.ts';
export {
  createJwksKeyGetter,
  DEFAULT_JWKS_COOLDOWN_MS,
  DEFAULT_JWKS_MAX_AGE_MS,
  DEFAULT_JWKS_RETRY_MS,
  isKeySet,
  type JwksKeyGetter,
  type JwksKeyGetterOptions,
  type KeySetHealth,
} from './jwks-key-getter.ts';
export {
  createFailureLimiter,
  DEFAULT_FAILURE_BURST,
  DEFAULT_FAILURE_MAX_CLIENTS,
  DEFAULT_FAILURE_REFILL_PER_SECOND,
  DEFAULT_MAX_CONCURRENT_ATTEMPTS,
  type FailureLimiter,
  type FailureLimiterOptions,
} from './failure-limiter.ts';

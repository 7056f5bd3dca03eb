import type { Context } from 'hono';
import type { Bus } from '@parley/bus';
import type { Logger } from '@parley/observability';
import { ParleyError } from '@parley/protocol';
import type { AuthMetrics } from '../auth-metrics.ts';
import type { FailureLimiter } from '@parley/tokens';
import type { SigningKeys } from '../keys/signing-keys.ts';
import type { Tenant, TenantStore } from '../store/tenant-store.ts';

/** Per-request values set by the credential middlewares. */
export interface AuthEnv {
  Variables: {
    /** The namespace of the presented API key: the only namespace the request may act on. */
    ns: string;
    keyId: string;
    tenant: Tenant;
    /** Set by the error handler: the code of the error response, for metrics. */
    errorCode: string;
  };
}

/** What every route module needs; built once by `createAuthApp`. */
export interface RouteDeps {
  store: TenantStore;
  keys: SigningKeys;
  bus: Bus;
  logger: Logger;
  metrics: AuthMetrics;
  limiter: FailureLimiter;
  getClientIp: (c: Context) => string;
  adminToken: string | undefined;
  /** Milliseconds since the epoch. */
  now: () => number;
  isClosing: () => boolean;
  /** Live user revocations a tenant may hold. @default DEFAULT_MAX_REVOCATIONS_PER_TENANT */
  maxRevocationsPerTenant?: number;
}

/** A ParleyError that also tells the client when to retry (`Retry-After`, seconds). */
export class RetryLaterError extends ParleyError {
  override name = 'RetryLaterError';
  readonly retryAfterSeconds: number;
  constructor(code: ConstructorParameters<typeof ParleyError>[0], message: string, retryAfterSeconds: number) {
    super(code, message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

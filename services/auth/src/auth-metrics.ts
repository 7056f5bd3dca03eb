import { Counter, type Registry } from 'prom-client';

/** The auth service's own metrics; label values are bounded (tenants, fixed reasons, operations). */
export interface AuthMetrics {
  /** `parley_auth_tokens_minted_total{tenant}` */
  tokensMinted: Counter<'tenant'>;
  /** `parley_auth_token_refusals_total{reason}`: requests to /v1/tokens that did not get a token. */
  tokenRefusals: Counter<'reason'>;
  /** `parley_auth_api_key_failures_total`: unknown, revoked or malformed API keys, and refusals while rate limited. */
  apiKeyFailures: Counter;
  /** `parley_auth_admin_requests_total{outcome}`: outcome `ok`, `unauthorized` or an error code. */
  adminRequests: Counter<'outcome'>;
  /** `parley_auth_server_requests_total{op,outcome}`: publish, direct, disconnect, kick, revoke, and the moderation operations. */
  serverRequests: Counter<'op' | 'outcome'>;
  /** `parley_auth_revocations_refused_total`: revocations refused with `too_many_revocations`. */
  revocationsRefused: Counter;
  /** `parley_auth_moderation_actions_total{action}`: moderation actions applied through the server API (ban, mute, kick …). */
  moderationActions: Counter<'action'>;
}

/**
 * Registers the metrics on `registry`, or reuses them when an earlier auth app registered them
 * there (several apps in one process, as in tests, share the series).
 */
export function createAuthMetrics(registry: Registry): AuthMetrics {
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> =>
    (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter<L>({ name, help, labelNames, registers: [registry] });
  return {
    tokensMinted: counter('parley_auth_tokens_minted_total', 'User tokens minted, by tenant', ['tenant']),
    tokenRefusals: counter('parley_auth_token_refusals_total', 'Token requests refused, by reason', ['reason']),
    apiKeyFailures: counter('parley_auth_api_key_failures_total', 'Rejected API key attempts', []),
    adminRequests: counter('parley_auth_admin_requests_total', 'Admin API requests, by outcome', ['outcome']),
    serverRequests: counter('parley_auth_server_requests_total', 'Server API requests, by operation and outcome', ['op', 'outcome']),
    revocationsRefused: counter('parley_auth_revocations_refused_total', 'User revocations refused because the tenant held PARLEY_MAX_REVOCATIONS_PER_TENANT live ones', []),
    moderationActions: counter('parley_auth_moderation_actions_total', 'Moderation actions applied through the server and admin APIs, by action', ['action']),
  };
}

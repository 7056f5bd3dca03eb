export { createGateway, DEFAULT_DRAIN_MS, DEFAULT_GATEWAY_PORT, type Gateway, type GatewayDeps, type GatewayOptions } from './app.ts';
export { createTokenVerifier, type TokenVerifier, type VerifiedToken } from './domain/token-verifier.ts';
export { DEFAULT_TENANT_LIMITS, type TenantLimits } from './domain/limits.ts';
export { installSignalHandlers } from './signals.ts';
export { remoteAddressOf, type FetchHandler } from './transport/http-bridge.ts';
export type { ConnectionView, GatewayEvents, PublishedMessage } from './domain/gateway-events.ts';

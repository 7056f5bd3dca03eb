export { FEDERATION_ENV, REGION_PATTERN, readFederationConfig, remoteHistoryRegion, type FederationConfig } from './config.ts';
export { DEFAULT_REGION_QUERY_TIMEOUT_MS, federatePresence, mergeMembers, regionPresenceSubject, type FederatedPresence, type FederatedPresenceOptions } from './federated-presence.ts';
export { DEFAULT_LEAF_POLL_MS, watchLeafLinks } from './leaf-link-metrics.ts';

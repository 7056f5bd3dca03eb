export { createJetStreamHistoryStore, DEFAULT_REQUEST_TIMEOUT_MS, type JetStreamHistoryStoreOptions } from './jetstream-history-store.ts';
export { streamName, streamSubject } from './jetstream-streams.ts';

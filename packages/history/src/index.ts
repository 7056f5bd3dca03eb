export {
  DEFAULT_HISTORY_RETENTION,
  HEADER_HISTORY_SEQ,
  MAX_HISTORY_RETENTION,
  resolveRetention,
  withSeq,
  type FollowerRepairReason,
  type HistoryFollower,
  type HistoryHealth,
  type HistoryListener,
  type HistoryPage,
  type HistoryRetention,
  type HistoryStore,
  type HistoryTenant,
  type ResumeCheck,
  type StoredMessage,
} from './history-store.ts';
export { createMemoryHistoryStore, type MemoryHistoryStoreOptions } from './memory-history-store.ts';
export { createJetStreamHistoryStore, DEFAULT_REQUEST_TIMEOUT_MS, type JetStreamHistoryStoreOptions } from './jetstream-history-store.ts';
export { streamName, streamSubject } from './jetstream-streams.ts';
export { openHistoryStore, type HistoryStoreConfig } from './open-history-store.ts';

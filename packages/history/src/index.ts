// The history port and the in-memory store. JetStream is `@parley/history/jetstream`; choosing by configuration is `@parley/history/open`.
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

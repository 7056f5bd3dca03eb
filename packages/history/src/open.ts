export { openHistoryStore, type HistoryStoreConfig } from './open-history-store.ts';

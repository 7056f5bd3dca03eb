export { openPresenceStore, type PresenceStoreConfig } from './open-presence-store.ts';

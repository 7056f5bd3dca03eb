export * from './presence-store.ts';
export { createMemoryPresenceStore } from './memory-presence-store.ts';

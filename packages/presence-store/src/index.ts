// The presence port and the in-memory store. Redis is `@parley/presence-store/redis`; choosing by configuration is `@parley/presence-store/open`.
export * from './presence-store.ts';
export { createMemoryPresenceStore } from './memory-presence-store.ts';

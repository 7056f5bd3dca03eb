export * from './redis-moderation-store.ts';

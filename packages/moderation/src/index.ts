export * from './moderation-store.ts';
export * from './memory-moderation-store.ts';
export * from './moderator.ts';

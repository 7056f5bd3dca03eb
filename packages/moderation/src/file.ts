export * from './file-moderation-store.ts';

export * from './bus.ts';
export { createMemoryBus } from './memory-bus.ts';

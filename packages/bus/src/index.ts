// The bus port and the in-memory bus. NATS is `@parley/bus/nats`; choosing by configuration is `@parley/bus/open`.
export * from './bus.ts';
export { createMemoryBus } from './memory-bus.ts';
export { createTracedBus, subjectPrefix } from './traced-bus.ts';
export type { TracedBusOptions } from './traced-bus.ts';

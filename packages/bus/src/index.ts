export * from './bus.ts';
export { createMemoryBus } from './memory-bus.ts';
export {
  createNatsBus,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_FLUSH_TIMEOUT_MS,
  DEFAULT_MAX_PING_OUT,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_RECONNECT_JITTER_MS,
  DEFAULT_RECONNECT_WAIT_MS,
} from './nats-bus.ts';
export type { NatsBus, NatsBusOptions, NatsBusStats } from './nats-bus.ts';
export { createTracedBus, subjectPrefix } from './traced-bus.ts';
export type { TracedBusOptions } from './traced-bus.ts';
export { CONTROL_STREAM, DEFAULT_CONTROL_RETENTION_SECONDS, ensureControlStream, readControlLog } from './control-log.ts';
export { openBus, type BusConfig } from './open-bus.ts';

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
export { CONTROL_STREAM, ensureControlStream, readControlLog } from './control-log.ts';

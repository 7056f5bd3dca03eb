export { openBus, type BusConfig } from './open-bus.ts';

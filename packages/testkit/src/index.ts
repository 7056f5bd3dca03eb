export * from './ports.ts';
export * from './servers.ts';
export * from './nats-cluster.ts';
export * from './nats-monitor.ts';
export * from './redis-cluster.ts';
export * from './ws-client.ts';
export * from './http-from.ts';
export * from './openapi-fuzz.ts';

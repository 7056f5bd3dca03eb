export * from './ports.ts';
export * from './servers.ts';
export * from './ws-client.ts';

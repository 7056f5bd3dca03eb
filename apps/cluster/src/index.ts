export * from './cluster.ts';
export * from './service-process.ts';
export * from './clients.ts';
export * from './prometheus.ts';
export * from './soak.ts';
export * from './regions.ts';

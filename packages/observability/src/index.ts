export * from './logger.ts';
export * from './metrics.ts';
export * from './tracing.ts';
export * from './http-tracing.ts';
export * from './connection-metrics.ts';
export * from './exposition.ts';
export * from './hot-counter.ts';
export * from './metrics-exposure.ts';

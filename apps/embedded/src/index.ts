export { startEmbedded, type Embedded, type EmbeddedOptions } from './embedded.ts';
export { createDemoRoutes, DEMO_GRANTS } from './demo.ts';

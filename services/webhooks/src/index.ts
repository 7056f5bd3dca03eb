export { DEFAULT_WEBHOOKS_PORT, readWebhooksConfig, WEBHOOKS_ENV, type WebhooksConfig } from './config.ts';
export { createDispatcherObserver, createRecorderObserver } from './metrics.ts';

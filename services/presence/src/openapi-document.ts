import { createMemoryBus } from '@parley/bus';
import { createLogger, createMetricsRegistry } from '@parley/observability';
import { createMemoryPresenceStore } from '@parley/presence-store';
import { createPresenceApp } from './app.ts';

/** Where the committed document lives, relative to the repository root. */
export const PRESENCE_OPENAPI_DOCUMENT_PATH = 'docs/api/presence.openapi.json';

/**
 * The OpenAPI 3.1 document of the presence API, generated from the route schemas, as the
 * committed file holds it (2-space JSON and a final newline). Builds a throwaway app on in-memory adapters.
 */
export async function renderPresenceOpenApiDocument(): Promise<string> {
  const bus = createMemoryBus();
  const presence = createPresenceApp({
    store: createMemoryPresenceStore(),
    bus,
    verifyApiKey: async () => null,
    verifyUserToken: async () => {
      throw new Error('not used: the document is rendered without requests');
    },
    logger: createLogger('presence', { level: 'silent' }),
    registry: createMetricsRegistry('presence'),
  });
  const document = presence.openApiDocument();
  await presence.close();
  await bus.close();
  return `${JSON.stringify(document, null, 2)}\n`;
}

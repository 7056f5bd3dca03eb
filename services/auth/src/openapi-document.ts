import { createMemoryBus } from '@parley/bus';
import { createLogger } from '@parley/observability';
import { createAuthApp } from './app.ts';
import { generateSigningKeys } from './keys/signing-keys.ts';
import { createMemoryTenantStore } from './store/memory-tenant-store.ts';

/** Where the committed document lives, relative to the repository root. */
export const OPENAPI_DOCUMENT_PATH = 'docs/api/openapi.json';

/**
 * The OpenAPI 3.1 document of the auth API, generated from the route schemas, as the committed
 * file holds it (2-space JSON and a final newline). Builds a throwaway app on in-memory adapters.
 */
export async function renderOpenApiDocument(): Promise<string> {
  const bus = createMemoryBus();
  const auth = createAuthApp({ store: createMemoryTenantStore(), keys: await generateSigningKeys(), bus, logger: createLogger('auth', { level: 'silent' }) });
  const document = auth.openApiDocument();
  await bus.close();
  return `${JSON.stringify(document, null, 2)}\n`;
}

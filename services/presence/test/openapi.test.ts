import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PRESENCE_OPENAPI_DOCUMENT_PATH, renderPresenceOpenApiDocument } from '../src/openapi-document.ts';

describe('presence OpenAPI document', () => {
  it('openapi - the committed docs/api/presence.openapi.json equals the one generated from the routes', async () => {
    const committed = await readFile(fileURLToPath(new URL(`../../../${PRESENCE_OPENAPI_DOCUMENT_PATH}`, import.meta.url)), 'utf8');
    // On failure: ./parley node services/presence/scripts/write-openapi.ts
    expect(committed).toBe(await renderPresenceOpenApiDocument());
  });
});

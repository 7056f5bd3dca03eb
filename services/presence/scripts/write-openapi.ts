// Regenerates docs/api/presence.openapi.json from the route schemas:
//   ./parley node services/presence/scripts/write-openapi.ts
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PRESENCE_OPENAPI_DOCUMENT_PATH, renderPresenceOpenApiDocument } from '../src/openapi-document.ts';

const path = fileURLToPath(new URL(`../../../${PRESENCE_OPENAPI_DOCUMENT_PATH}`, import.meta.url));
await writeFile(path, await renderPresenceOpenApiDocument());
console.log(`wrote ${path}`);

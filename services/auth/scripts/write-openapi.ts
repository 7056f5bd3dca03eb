// Regenerates docs/api/openapi.json from the route schemas:
//   ./parley node services/auth/scripts/write-openapi.ts
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { OPENAPI_DOCUMENT_PATH, renderOpenApiDocument } from '../src/openapi-document.ts';

const path = fileURLToPath(new URL(`../../../${OPENAPI_DOCUMENT_PATH}`, import.meta.url));
await writeFile(path, await renderOpenApiDocument());
console.log(`wrote ${path}`);

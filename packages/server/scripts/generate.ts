// Regenerates the typed API descriptions of @parley/server from Parley's OpenAPI documents:
//   ./parley npm run generate -w packages/server
// A test fails when the committed files differ from what this writes.
import { writeFile } from 'node:fs/promises';
import { renderGeneratedApis } from './render.ts';

for (const { path, source } of await renderGeneratedApis()) {
  await writeFile(path, source);
  console.log(`wrote ${path}`);
}

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';

/** Each OpenAPI document of the repository and the module generated from it. */
export const GENERATED_APIS = [
  { document: 'docs/api/openapi.json', module: 'src/generated/auth-api.ts' },
  { document: 'docs/api/presence.openapi.json', module: 'src/generated/presence-api.ts' },
] as const;

const repoRoot = new URL('../../../', import.meta.url);
const packageRoot = new URL('../', import.meta.url);

/** The generated modules' absolute paths and source text, as openapi-typescript writes them. */
export async function renderGeneratedApis(): Promise<Array<{ path: string; source: string }>> {
  return Promise.all(
    GENERATED_APIS.map(async ({ document, module }) => {
      const schema = JSON.parse(await readFile(new URL(document, repoRoot), 'utf8')) as Parameters<typeof openapiTS>[0];
      const ast = await openapiTS(schema as never, { rootTypes: false, alphabetize: false });
      return { path: fileURLToPath(new URL(module, packageRoot)), source: `${COMMENT_HEADER}// From ${document}.\n\n${astToString(ast)}` };
    }),
  );
}

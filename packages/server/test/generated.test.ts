import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { renderGeneratedApis } from '../scripts/render.ts';

describe('generated API types', () => {
  it('server sdk - src/generated/ is what openapi-typescript makes of docs/api/*.json today', async () => {
    // On failure: ./parley npm run generate -w packages/server
    for (const { path, source } of await renderGeneratedApis()) expect(await readFile(path, 'utf8'), path).toBe(source);
  });
});

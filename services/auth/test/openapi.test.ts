import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { OPENAPI_DOCUMENT_PATH, renderOpenApiDocument } from '../src/openapi-document.ts';
import { createTestAuth } from './support.ts';

describe('OpenAPI document', () => {
  it('openapi - the committed docs/api/openapi.json equals the one generated from the routes', async () => {
    const committed = await readFile(fileURLToPath(new URL(`../../../${OPENAPI_DOCUMENT_PATH}`, import.meta.url)), 'utf8');
    // On failure: ./parley node services/auth/scripts/write-openapi.ts
    expect(committed).toBe(await renderOpenApiDocument());
  });

  it('openapi - every API route of the app is in the document, and the app serves it', async () => {
    const t = await createTestAuth();
    const document = t.auth.openApiDocument() as { paths: Record<string, Record<string, unknown>> };
    const documented = new Set(Object.entries(document.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
    const served = t.auth.app.routes
      .filter((r) => r.method !== 'ALL' && (r.path.startsWith('/v1/') || r.path.startsWith('/.well-known/')))
      .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`);
    expect(served.length).toBeGreaterThan(15);
    for (const route of served) expect(documented, route).toContain(route);
    expect(await (await t.call('GET', '/openapi.json')).json()).toEqual(document);
  });

  it('openapi - every pattern is a valid JSON Schema (ECMA-262, Unicode) regex and the room pattern matches room names', async () => {
    const committed = await readFile(fileURLToPath(new URL(`../../../${OPENAPI_DOCUMENT_PATH}`, import.meta.url)), 'utf8');
    const patterns = [...committed.matchAll(/"pattern": *("(?:[^"\\]|\\.)*")/g)].map((m) => JSON.parse(m[1]!) as string);
    expect(patterns.length).toBeGreaterThan(3);
    for (const source of patterns) expect(() => new RegExp(source, 'u'), source).not.toThrow();
    const room = patterns.find((p) => p.includes('\\p{L}'));
    expect(room).toBeDefined();
    const re = new RegExp(room!, 'u');
    for (const ok of ['lobby', 'game-42', 'équipe', 'a/b#c']) expect(re.test(ok), ok).toBe(true);
    for (const bad of ['a.b', 'x y', '*', '']) expect(re.test(bad), bad).toBe(false);
  });
});

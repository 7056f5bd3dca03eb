import { describe, expect, it } from 'vitest';
import { CORE_BUDGET_BYTES, measureClient } from '../scripts/bundle.ts';

describe('bundle size', () => {
  it('size - the core bundled with esbuild, minified and gzipped, fits in 8 KB', async () => {
    const { minified, gzipped } = await measureClient();
    console.log(`[size] @parley/client core: ${minified} B minified, ${gzipped} B gzipped (budget ${CORE_BUDGET_BYTES} B)`);
    expect(gzipped).toBeLessThanOrEqual(CORE_BUDGET_BYTES);
  });
});

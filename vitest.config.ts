import { defineConfig } from 'vitest/config';

// Workspace packages that ship built files (@parley/client) point this condition at their sources.
// The rest are Vite's defaults, which setting `conditions` replaces.
const SOURCE_CONDITION = 'parley-source';

export default defineConfig({
  resolve: { conditions: [SOURCE_CONDITION, 'module', 'browser', 'development|production'] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, 'module', 'node', 'development|production'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'scripts/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'deploy/**/test/**/*.test.ts', 'loadtest/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});

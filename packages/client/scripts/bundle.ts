import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/** The size budget of the core bundle, minified and gzipped (issue #20). */
export const CORE_BUDGET_BYTES = 8 * 1024;

const ENTRY = new URL('../src/index.ts', import.meta.url).pathname;

/** Bundles the SDK for browsers as one minified ESM file. */
export async function bundleClient(options: { minify?: boolean } = {}): Promise<string> {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: options.minify ?? true,
    write: false,
    legalComments: 'none',
  });
  return (result.outputFiles[0] as { text: string }).text;
}

/** The core's size: minified bytes and gzipped bytes. */
export async function measureClient(): Promise<{ minified: number; gzipped: number }> {
  const code = await bundleClient();
  return { minified: Buffer.byteLength(code), gzipped: gzipSync(code, { level: 9 }).byteLength };
}

/** The file the demo page loads (apps/embedded serves it); a test checks it is current. */
export const DEMO_BUNDLE = new URL('../../../apps/embedded/public/parley-client.js', import.meta.url).pathname;
const BANNER = '// @parley/client bundled for the demo page by `npm run bundle:demo -w packages/client`; do not edit.\n';

/** The demo page's copy of the SDK, as it should be. */
export async function demoBundle(): Promise<string> {
  return BANNER + (await bundleClient());
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv[2] === '--demo') {
  writeFileSync(DEMO_BUNDLE, await demoBundle());
  console.log(`wrote ${DEMO_BUNDLE}`);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const { minified, gzipped } = await measureClient();
  console.log(`@parley/client core: ${minified} B minified, ${gzipped} B gzipped (budget ${CORE_BUDGET_BYTES} B)`);
  if (gzipped > CORE_BUDGET_BYTES) process.exit(1);
}

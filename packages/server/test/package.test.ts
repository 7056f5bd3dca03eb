import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const packageDir = join(import.meta.dirname, '..');

describe('@parley/server as published', () => {
  it('server sdk - npm pack builds dist with declarations; the packed package imports in plain Node', () => {
    const out = mkdtempSync(join(tmpdir(), 'parley-server-pack-'));
    try {
      const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', out], { cwd: packageDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as Array<{ filename: string; files: Array<{ path: string }> }>;
      const files = packed[0]!.files.map((f) => f.path);
      expect(files).toEqual(expect.arrayContaining(['README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/tenant-client.js', 'dist/generated/auth-api.d.ts']));
      expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
      execFileSync('tar', ['-xzf', join(out, packed[0]!.filename), '-C', out]);
      expect(readdirSync(join(out, 'package', 'dist'))).toContain('index.js');
      // From the package folder's dist, so `openapi-fetch` resolves from the workspace as an installed dependency would.
      const exported = execFileSync(process.execPath, ['--input-type=module', '-e', `import * as sdk from ${JSON.stringify(join(packageDir, 'dist', 'index.js'))}; console.log(Object.keys(sdk).sort().join(','))`], { encoding: 'utf8' });
      expect(exported.trim()).toBe('ParleyApiError,createParleyAdmin,createParleyServer,verifyWebhook');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

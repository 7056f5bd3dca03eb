import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@parley/testkit';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** How long a fresh clone's first `./parley npm start` may take, installing included (a cold npm cache needs about a minute). */
const FIRST_START_BOUND_MS = 240_000;

const work = mkdtempSync(join(tmpdir(), 'parley-first-run-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('first run', () => {
  it(
    'first run - ./parley npm start on a fresh clone installs, serves the demo page and /readyz, its printed curl mints a token, and SIGTERM exits 0',
    async () => {
      const clone = join(work, 'parley');
      const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
      execFileSync('git', ['clone', '--quiet', '--no-checkout', ROOT, clone]);
      execFileSync('git', ['-c', 'advice.detachedHead=false', 'checkout', '--quiet', head], { cwd: clone });
      const port = await freePort();
      const child = spawn('./parley', ['npm', 'start'], {
        cwd: clone,
        env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', PARLEY_DATA_DIR: join(work, 'data'), PARLEY_DRAIN_MS: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d));
      child.stderr.on('data', (d: Buffer) => (output += d));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`not started within ${FIRST_START_BOUND_MS} ms:\n${output}`)), FIRST_START_BOUND_MS);
          const check = () => {
            if (output.includes('Ctrl-C stops')) (clearTimeout(timer), resolve());
          };
          child.stdout.on('data', check);
          void exited.then((code) => (clearTimeout(timer), reject(new Error(`./parley npm start exited ${code}:\n${output}`))));
        });
        expect(output).toContain('installing dependencies with npm ci (first run in this clone');
        const url = /demo chat page\s+(http:\/\/\S+)\//.exec(output)?.[1];
        expect(url).toBe(`http://localhost:${port}`);
        expect((await fetch(`${url}/readyz`)).status).toBe(200);
        const page = await fetch(`${url}/`);
        expect(page.status).toBe(200);
        expect(await page.text()).toContain('Parley demo');

        const curl = /^\s*(curl -sS -X POST .*\/v1\/tokens .*)$/m.exec(output)?.[1];
        expect(curl, output).toBeDefined();
        const minted = JSON.parse(execFileSync('sh', ['-c', curl!], { encoding: 'utf8' })) as { token?: unknown };
        expect(typeof minted.token).toBe('string');
        expect((minted.token as string).split('.')).toHaveLength(3);
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited).toBe(0);
    },
    FIRST_START_BOUND_MS + 60_000,
  );
});

describe('package sources', () => {
  it('package sources - ./parley names no http:// or https:// address', () => {
    expect(readFileSync(join(ROOT, 'parley'), 'utf8')).not.toMatch(/https?:\/\//);
  });

  it('package sources - package-lock.json records no download address', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { resolved?: string; link?: boolean }> };
    const withAddress = Object.entries(lock.packages).filter(([, entry]) => entry.resolved !== undefined && !entry.link);
    expect(withAddress.map(([name, entry]) => `${name}: ${entry.resolved}`)).toEqual([]);
  });
});

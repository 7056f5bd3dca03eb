import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'parley-start-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** Runs `npm start` as the README says and resolves with the printed page URL and demo key. */
function npmStart(env: Record<string, string>): Promise<{ child: ChildProcess; url: string; key: string | undefined; output: () => string }> {
  const child = spawn('npm', ['start'], { cwd: ROOT, env: { ...process.env, PORT: '0', HOST: '127.0.0.1', PARLEY_DATA_DIR: dataDir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start printed no URL:\n${out}`)), 20_000);
    const onData = (d: Buffer) => {
      out += d;
      const url = /demo chat page\s+(http:\/\/\S+)\//.exec(out)?.[1];
      if (url && out.includes('Ctrl-C stops')) {
        clearTimeout(timer);
        resolve({ child, url, key: /demo API key\s+(pk_\S+)/.exec(out)?.[1], output: () => out });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => (out += d));
    child.once('exit', (code) => reject(new Error(`npm start exited ${code}:\n${out}`)));
  });
}

async function stop(child: ChildProcess) {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

describe('npm start', () => {
  it('npm start - serves the demo page, health and token minting; the generated demo key survives a restart', async () => {
    const first = await npmStart({ PARLEY_DRAIN_MS: '0' });
    try {
      expect(first.key).toMatch(/^pk_demo_/);
      const page = await fetch(`${first.url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('Parley demo');
      expect((await fetch(`${first.url}/readyz`)).status).toBe(200);
      expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
      expect(await (await fetch(`${first.url}/metrics`)).text()).toContain('parley_gateway_connections');
      const minted = await fetch(`${first.url}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${first.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'alice', grants: { lobby: ['subscribe', 'publish'] } }),
      });
      expect(minted.status).toBe(200);
      expect(typeof ((await minted.json()) as { token: unknown }).token).toBe('string');
    } finally {
      await stop(first.child);
    }
    const second = await npmStart({ PARLEY_DRAIN_MS: '0' });
    try {
      expect(second.key).toBe(first.key);
      expect(second.output()).not.toContain('generated now');
    } finally {
      await stop(second.child);
    }
  });

  it('npm start - PARLEY_DEMO_API_KEY is used when set and never printed', async () => {
    const key = 'pk_demo_fixed-key-for-this-test-0123456789';
    const dir = mkdtempSync(join(tmpdir(), 'parley-start-key-'));
    const run = await npmStart({ PARLEY_DEMO_API_KEY: key, PARLEY_DATA_DIR: dir, PARLEY_DRAIN_MS: '0' });
    try {
      expect(run.output()).not.toContain(key);
      const minted = await fetch(`${run.url}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'bob', grants: { lobby: ['subscribe'] } }),
      });
      expect(minted.status).toBe(200);
    } finally {
      await stop(run.child);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

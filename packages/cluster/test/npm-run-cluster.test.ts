import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'parley-npm-cluster-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm run cluster', () => {
  it('npm run cluster - uses PARLEY_ADMIN_TOKEN for the admin API, never prints it, and stops with 0 on SIGTERM', async () => {
    const adminToken = 'admin-token-from-the-environment-0123456789';
    const stateFile = join(work, 'cluster.json');
    const child = spawn('npm', ['run', 'cluster'], {
      cwd: ROOT,
      env: { ...process.env, PARLEY_ADMIN_TOKEN: adminToken, PARLEY_CLUSTER_BASE_PORT: '0', PARLEY_CLUSTER_GATEWAYS: '1', PARLEY_CLUSTER_FILE: stateFile, PARLEY_DRAIN_MS: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the cluster did not come up within 60 s:\n${output}`)), 60_000);
        child.stdout.on('data', () => output.includes('Ctrl-C stops everything') && (clearTimeout(timer), resolve()));
        void exited.then((code) => (clearTimeout(timer), reject(new Error(`npm run cluster exited ${code}:\n${output}`))));
      });
      expect(output).toContain('admin token     from PARLEY_ADMIN_TOKEN');
      expect(output).not.toContain(adminToken);
      const { auth } = JSON.parse(readFileSync(stateFile, 'utf8')) as { auth: string };
      const withToken = await fetch(`${auth}/v1/admin/tenants`, { headers: { authorization: `Bearer ${adminToken}` } });
      expect(withToken.status).toBe(200);
      const withOther = await fetch(`${auth}/v1/admin/tenants`, { headers: { authorization: 'Bearer another-token-of-the-same-length-0123456' } });
      expect(withOther.status).toBe(401);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 90_000);
});

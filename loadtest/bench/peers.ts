import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);

/** The peers' npm packages, pinned by major; installed outside the repository, never committed. */
export const PEER_PACKAGES = ['socket.io@4', '@socket.io/redis-adapter@8', 'redis@4', 'socket.io-client@4'];

/**
 * A folder outside the repository holding the Socket.IO packages (installed on first use with
 * npm, reused while the package list is unchanged).
 */
export async function ensureNpmPeers(): Promise<string> {
  const dir = join(tmpdir(), 'parley-bench-peers');
  const stamp = join(dir, '.packages');
  const wanted = PEER_PACKAGES.join(' ');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted) return dir;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'parley-bench-peers', private: true, type: 'commonjs' }));
  console.error(`[bench] installing ${wanted} into ${dir}`);
  await run('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--prefix', dir, ...PEER_PACKAGES], { maxBuffer: 16 << 20, timeout: 10 * 60_000 });
  writeFileSync(stamp, wanted);
  return dir;
}

/** Installed versions, for the report. */
export function peerVersions(dir: string): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const name of ['socket.io', '@socket.io/redis-adapter', 'redis', 'socket.io-client']) {
    try {
      versions[name] = (JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      // not installed
    }
  }
  return versions;
}

/**
 * Path of a Centrifugo binary built from the Go module proxy (loadtest/bench/ensure-centrifugo.sh),
 * or the build error when it cannot be built here.
 */
export async function ensureCentrifugo(): Promise<{ bin: string; version: string } | { error: string }> {
  const script = fileURLToPath(new URL('./ensure-centrifugo.sh', import.meta.url));
  try {
    const { stdout } = await run('bash', [script], { maxBuffer: 16 << 20, timeout: 30 * 60_000 });
    const bin = stdout.trim().split('\n').pop()!;
    const { stdout: recipe } = await run('bash', ['-c', `cat "$(dirname "${bin}")/.centrifugo.recipe"`]);
    return { bin, version: recipe.trim().split('@').pop() ?? 'unknown' };
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    return { error: (e.stderr || e.message).trim().split('\n').slice(-5).join('\n') };
  }
}

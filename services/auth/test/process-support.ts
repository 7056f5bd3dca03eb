import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from '@parley/testkit';

export const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
export const CLI = fileURLToPath(new URL('../bin/parley-admin.ts', import.meta.url));

/** A real standalone auth process (`node src/main.ts`) on a free loopback port. */
export interface AuthProcess {
  readonly url: string;
  readonly port: number;
  /** Everything the current run printed on stdout. */
  stdout(): string;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Starts again with the same environment and port. */
  restart(): Promise<void>;
}

export async function startAuthProcess(env: Record<string, string>): Promise<AuthProcess> {
  const port = await freePort();
  let child: ChildProcess;
  let out = '';
  let err = '';
  const launch = async () => {
    out = '';
    err = '';
    // Only what the test gives: no REDIS_URL/NATS_URL leaking in from the caller's environment.
    child = spawn(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), PARLEY_DRAIN_MS: '0', PARLEY_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`auth exited with ${code} before listening:\n${out}\n${err}`))));
    exited.catch(() => {});
    await Promise.race([waitForPort(port, 15_000), exited]);
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const done = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    return done;
  };
  await launch();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stdout: () => out,
    stop,
    async restart() {
      await stop();
      await launch();
    },
  };
}

/** Runs `parley-admin` as a process; resolves with its exit code and output. */
export function runAdminCli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

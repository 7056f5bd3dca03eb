import { spawn, type ChildProcess } from 'node:child_process';
import type { ChartProcess } from './chart-env.ts';
import { REPO_ROOT } from './tools.ts';

/** What the image adds to the pod's environment (Dockerfile ENV) besides the chart's variables. */
export const IMAGE_ENV = { NODE_ENV: 'production' } as const;

export interface RunningProcess {
  spec: ChartProcess;
  url: string;
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

/** Spawns a chart process from the repository root, as the image runs it from /app. */
export function startChartProcess(spec: ChartProcess): RunningProcess {
  const [command, ...args] = spec.command;
  if (!command) throw new Error(`${spec.component}: the container has no command`);
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...IMAGE_ENV, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-10_000);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { spec, url: `http://127.0.0.1:${spec.env.PORT}`, child, output: () => output, exited };
}

/** Polls the readiness probe's path until it answers 200; fails early when the process exits. */
export async function waitUntilReady(running: RunningProcess, timeoutMs = 20_000): Promise<void> {
  const path = running.spec.probes.readiness ?? '/readyz';
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void running.exited.then(() => (exited = true));
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${running.spec.component} exited before it was ready:\n${running.output()}`);
    try {
      const response = await fetch(`${running.url}${path}`, { signal: AbortSignal.timeout(2000) });
      if (response.status === 200) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${running.spec.component} not ready after ${timeoutMs} ms (${last}):\n${running.output()}`);
}

/** Sends SIGTERM and resolves with the exit code, or 'timeout' after `limitMs`. */
export async function terminate(running: RunningProcess, limitMs: number): Promise<number | null | 'timeout'> {
  running.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), limitMs)));
  const result = await Promise.race([running.exited, timeout]);
  clearTimeout(timer);
  return result;
}

export function killAll(processes: RunningProcess[]): void {
  for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
}

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export type ServiceName = 'gateway' | 'auth' | 'presence' | 'webhooks';

/**
 * The production command of a service (`deploy/helm/parley/env-contract.json`, also the image's
 * CMD): its Node flags and entry point, so local processes run exactly as pods do.
 */
export function productionCommand(service: ServiceName): string[] {
  const contract = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy/helm/parley/env-contract.json'), 'utf8')) as { services: Record<ServiceName, { command: string[] }> };
  const command = contract.services[service].command;
  if (command[0] !== 'node') throw new Error(`env-contract.json: the ${service} command must start with "node"`);
  return command.slice(1);
}

export interface ServiceProcessOptions {
  /** Short name used in output lines: gateway-1, auth, presence. */
  name: string;
  /** Node arguments after `node`: flags and the entry point, relative to the repository root. */
  args: string[];
  env: Record<string, string>;
  /** URL whose `/readyz` must answer 200. */
  url: string;
  /** Where output goes: a file path, 'inherit' (prefixed lines on stdout), or 'ignore'. */
  output: string | 'inherit' | 'ignore';
  /**
   * Another free port, for when the one in `env.PORT` was taken between choosing it and listening
   * (another process, or an outgoing connection, got it first): the start is then tried again on
   * that port, and `url` follows.
   */
  choosePort?: () => Promise<number>;
}

const PORT_TAKEN = /EADDRINUSE|could not listen on/;
const PORT_ATTEMPTS = 5;

/** A Parley service running as its own Node process, as a pod would. */
export class ServiceProcess {
  readonly options: ServiceProcessOptions;
  child: ChildProcess | undefined;
  private log: WriteStream | undefined;

  constructor(options: ServiceProcessOptions) {
    this.options = options;
  }

  get name() {
    return this.options.name;
  }
  get url() {
    return this.options.url;
  }
  get running() {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Starts the process and resolves once `/readyz` answers 200 (or rejects after `timeoutMs`). A
   * process that stops because its port is taken is started again on a port from `choosePort`.
   */
  async start(timeoutMs = 20_000) {
    const { choosePort } = this.options;
    for (let attempt = 1; ; attempt++) {
      const portTaken = await this.launch(timeoutMs).then(
        () => false,
        (error: Error & { stderrTail?: string }) => {
          if (!choosePort || attempt >= PORT_ATTEMPTS || !PORT_TAKEN.test(error.stderrTail ?? '')) throw error;
          return true;
        },
      );
      if (!portTaken || !choosePort) return;
      const port = await choosePort();
      const url = new URL(this.options.url);
      url.port = String(port);
      this.options.url = url.origin;
      this.options.env.PORT = String(port);
      this.note(`port taken; starting again on ${port}`);
    }
  }

  private note(line: string) {
    const { output, name } = this.options;
    if (output === 'inherit') process.stdout.write(`${name.padEnd(10)} | ${line}\n`);
    else if (this.log) this.log.write(`${line}\n`);
  }

  private async launch(timeoutMs: number) {
    const { args, env, output, name } = this.options;
    this.child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (output === 'inherit') {
      const prefix = (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).map((l) => `${name.padEnd(10)} | ${l}\n`).join('');
      this.child.stdout?.on('data', (d: Buffer) => process.stdout.write(prefix(d)));
      this.child.stderr?.on('data', (d: Buffer) => process.stderr.write(prefix(d)));
    } else if (output !== 'ignore') {
      this.log ??= createWriteStream(output, { flags: 'a' });
      this.child.stdout?.pipe(this.log, { end: false });
      this.child.stderr?.pipe(this.log, { end: false });
    } else {
      this.child.stdout?.resume();
      this.child.stderr?.resume();
    }
    const child = this.child;
    let stderrTail = '';
    child.stderr?.on('data', (d: Buffer) => (stderrTail = (stderrTail + d.toString()).slice(-4096)));
    const exited = new Promise<never>((_, reject) =>
      child.once('close', (code, signal) => reject(Object.assign(new Error(`${name} exited (${code ?? signal}) before it was ready; see ${output}`), { stderrTail }))),
    );
    exited.catch(() => {});
    await Promise.race([waitReady(this.options.url, timeoutMs), exited]);
  }

  /** Sends a signal and waits for the exit; SIGKILL is a crash, SIGTERM a graceful drain. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<number | null> {
    const child = this.child;
    if (!child || !this.running) return child?.exitCode ?? null;
    const done = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await done;
    clearTimeout(timer);
    return code;
  }

  /** SIGSTOP: the process stops running without exiting (a long GC pause, a stopped VM); `thaw` resumes it. */
  freeze() {
    if (this.running) this.child?.kill('SIGSTOP');
  }

  thaw() {
    if (this.running) this.child?.kill('SIGCONT');
  }

  closeLog() {
    this.log?.end();
  }
}

export async function waitReady(url: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
      last = `${res.status} ${await res.text()}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url}/readyz not ready after ${timeoutMs} ms: ${last}`);
}

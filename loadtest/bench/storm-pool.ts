import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { StormReply, StormRequest } from './storm-messages.ts';

const WORKER = fileURLToPath(new URL('./storm-worker.ts', import.meta.url));

type ReplyOf<T extends StormReply['type']> = Extract<StormReply, { type: T }>;

/** One load-generator process of the storm, asked one request at a time per reply type. */
export class StormWorker {
  readonly child: ChildProcess;

  constructor() {
    // The worker imports @parley/client, whose package points at its sources under this condition.
    this.child = fork(WORKER, [], { execArgv: ['--conditions=parley-source', '--disable-warning=ExperimentalWarning', '--max-old-space-size=2048'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  }

  get pid() {
    return this.child.pid!;
  }

  ask<T extends StormReply['type']>(request: StormRequest, reply: T, timeoutMs = 120_000): Promise<ReplyOf<T>> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`storm worker exited (${code}) before answering ${request.type}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`storm worker did not answer ${request.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (message: StormReply) => {
        if (message.type !== reply) return;
        cleanup();
        resolve(message as ReplyOf<T>);
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
      };
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
      this.child.send(request);
    });
  }

  async close() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.connected) await this.ask({ type: 'close-all' }, 'closed', 10_000).catch(() => undefined);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

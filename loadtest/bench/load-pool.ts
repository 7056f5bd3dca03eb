import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ConnSpec, WorkerReply, WorkerRequest } from './worker-messages.ts';
import type { SystemName } from './protocols.ts';
import { HISTOGRAM_BUCKETS, addPairs, summarize, type LatencySummary } from './latency-histogram.ts';

const WORKER = fileURLToPath(new URL('./load-worker.ts', import.meta.url));

type ReplyOf<T extends WorkerReply['type']> = Extract<WorkerReply, { type: T }>;

/** Load-generator processes, each holding a share of the connections. */
export class LoadPool {
  readonly workers: ChildProcess[];

  constructor(size: number) {
    this.workers = Array.from({ length: size }, () =>
      fork(WORKER, [], { execArgv: ['--disable-warning=ExperimentalWarning', '--max-old-space-size=2048'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
  }

  get pids() {
    return this.workers.map((w) => w.pid!);
  }

  private ask<T extends WorkerReply['type']>(worker: ChildProcess, request: WorkerRequest, reply: T, timeoutMs = 120_000): Promise<ReplyOf<T>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.off('message', onMessage);
        reject(new Error(`load worker did not answer ${request.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (message: WorkerReply) => {
        if (message.type !== reply) return;
        clearTimeout(timer);
        worker.off('message', onMessage);
        resolve(message as ReplyOf<T>);
      };
      worker.on('message', onMessage);
      worker.send(request);
    });
  }

  private all<T extends WorkerReply['type']>(request: WorkerRequest, reply: T, timeoutMs?: number) {
    return Promise.all(this.workers.map((w) => this.ask(w, request, reply, timeoutMs)));
  }

  /** Spreads the connections over the workers (round robin) and opens them. */
  async connect(system: SystemName, conns: ConnSpec[], concurrency = 64, payloadBytes = 0) {
    const shares: ConnSpec[][] = this.workers.map(() => []);
    conns.forEach((c, i) => shares[i % shares.length]!.push(c));
    const replies = await Promise.all(this.workers.map((w, i) => this.ask(w, { type: 'connect', system, conns: shares[i]!, concurrency, payloadBytes }, 'connected', 600_000)));
    return {
      ok: replies.reduce((s, r) => s + r.ok, 0),
      failed: replies.reduce((s, r) => s + r.failed, 0),
      firstError: replies.find((r) => r.firstError)?.firstError,
    };
  }

  async publishWindow(window: number) {
    await this.all({ type: 'publish', mode: 'window', window }, 'publishing');
  }

  async publishRate(perPublisherPerSecond: number) {
    await this.all({ type: 'publish', mode: 'rate', perPublisherPerSecond }, 'publishing');
  }

  /** Stops publishing; returns messages sent per room. */
  async stopPublishing() {
    const replies = await this.all({ type: 'stop-publish' }, 'stopped');
    const sent: Record<string, number> = {};
    for (const r of replies) for (const [room, n] of Object.entries(r.sent)) sent[room] = (sent[room] ?? 0) + n;
    return sent;
  }

  async stats(reset = false): Promise<{ received: number; errors: number; closes: Record<string, number>; latency: LatencySummary | undefined }> {
    const replies = await this.all({ type: 'stats', reset }, 'stats');
    const histogram = new Uint32Array(HISTOGRAM_BUCKETS);
    const closes: Record<string, number> = {};
    for (const r of replies) {
      addPairs(histogram, r.latency);
      for (const [code, n] of Object.entries(r.closes)) closes[code] = (closes[code] ?? 0) + n;
    }
    return { received: replies.reduce((s, r) => s + r.received, 0), errors: replies.reduce((s, r) => s + r.errors, 0), closes, latency: summarize(histogram) };
  }

  /** Waits until no more messages arrive (or the deadline), then checks every connection's count against what was sent. */
  async settleAndAccount(sent: Record<string, number>, quietMs = 1000, deadlineMs = 15_000) {
    const deadline = Date.now() + deadlineMs;
    let last = -1;
    let stableSince = Date.now();
    while (Date.now() < deadline) {
      const { received } = await this.stats();
      if (received !== last) {
        last = received;
        stableSince = Date.now();
      } else if (Date.now() - stableSince >= quietMs) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const replies = await this.all({ type: 'final', sent }, 'final');
    return {
      silentMissing: replies.reduce((s, r) => s + r.silentMissing, 0),
      accountedMissing: replies.reduce((s, r) => s + r.accountedMissing, 0),
      extra: replies.reduce((s, r) => s + r.extra, 0),
      closedConns: replies.reduce((s, r) => s + r.closedConns, 0),
    };
  }

  async close() {
    await Promise.allSettled(this.workers.map((w) => (w.connected ? this.ask(w, { type: 'close-all' }, 'closed', 10_000) : Promise.resolve())));
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exitCode !== null || w.signalCode !== null) return resolve();
            const timer = setTimeout(() => w.kill('SIGKILL'), 5000);
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
  }
}

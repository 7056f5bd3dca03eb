import type { Cluster, Redis } from 'ioredis';
import { ParleyError } from '@parley/protocol';
import { CONFLICT_REPLY, PRESENCE_SCRIPTS } from './redis-scripts.ts';

/** A command: its name (a Redis command or one of PRESENCE_SCRIPTS) and arguments, keys first. */
export type Cmd = readonly [name: string, ...args: Array<string | number>];

export interface RedisRunner {
  /**
   * Runs phases of commands and returns their results per phase (a conflict reply stays in its
   * slot as an Error). Phase N+1 starts on the server after phase N: on one Redis all phases go
   * in one pipeline, one round trip, executed in order; on a Cluster each phase is sent after the
   * previous one answered (its commands fan out to their nodes in parallel). Any other failure
   * rejects with ParleyError('presence_unavailable').
   */
  run(phases: ReadonlyArray<readonly Cmd[]>): Promise<unknown[][]>;
  close(): void;
}

/** @default 500 */
export const DEFAULT_READY_WAIT_MS = 500;

type Invoke = Record<string, (...args: Array<string | number>) => Promise<unknown>>;

export function createRedisRunner(redis: Redis | Cluster, options: { readyWaitMs?: number | undefined; onError?: ((error: Error) => void) | undefined }): RedisRunner {
  const readyWaitMs = options.readyWaitMs ?? DEFAULT_READY_WAIT_MS;
  const cluster = (redis as { isCluster?: boolean }).isCluster === true;
  for (const [name, script] of Object.entries(PRESENCE_SCRIPTS)) redis.defineCommand(name, script);

  const onError = (error: Error) => options.onError?.(error);
  // Connection errors are reported here (and surface as rejected calls); without a listener
  // ioredis would print them.
  redis.on('error', onError);

  let readyWaiters: Promise<boolean> | undefined;
  const whenReady = () =>
    (readyWaiters ??= new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        readyWaiters = undefined;
        redis.off('ready', onReady);
        redis.off('end', onEnd);
        resolve(ok);
      };
      const onReady = () => done(true);
      const onEnd = () => done(false);
      redis.once('ready', onReady);
      redis.once('end', onEnd);
    }));

  /** A short bounded wait for a connection in progress; never a queue that grows during an outage. */
  const ready = async () => {
    if (redis.status === 'ready') return;
    if (redis.status === 'end' || redis.status === 'close') throw new ParleyError('presence_unavailable', 'presence store is not connected');
    if (redis.status === 'wait') redis.connect().catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([whenReady(), new Promise<false>((resolve) => (timer = setTimeout(resolve, readyWaitMs, false)))]);
    clearTimeout(timer);
    if (!ok) throw new ParleyError('presence_unavailable', 'presence store is not connected');
  };

  const unavailable = (error: unknown) => {
    if (error instanceof ParleyError) return error;
    if (error instanceof Error) onError(error);
    return new ParleyError('presence_unavailable', undefined, { cause: error });
  };

  const isConflict = (value: unknown) => value instanceof Error && value.message.startsWith(CONFLICT_REPLY);

  const execute = async (phases: ReadonlyArray<readonly Cmd[]>): Promise<unknown[][]> => {
    if (!cluster) {
      const pipeline = redis.pipeline();
      const target = pipeline as unknown as Invoke;
      for (const phase of phases) for (const [name, ...args] of phase) void target[name]!(...args);
      const replies = (await pipeline.exec()) ?? [];
      const out: unknown[][] = [];
      let i = 0;
      for (const phase of phases) out.push(phase.map(() => {
        const [error, value] = replies[i++] ?? [new Error('missing pipeline reply'), undefined];
        return error ?? value;
      }));
      return out;
    }
    const out: unknown[][] = [];
    const target = redis as unknown as Invoke;
    for (const phase of phases) {
      const settled = await Promise.allSettled(phase.map(([name, ...args]) => target[name]!(...args)));
      const values = settled.map((s) => (s.status === 'fulfilled' ? s.value : s.reason));
      out.push(values);
      if (values.some((v) => v instanceof Error && !isConflict(v))) break;
    }
    return out;
  };

  return {
    async run(phases) {
      await ready();
      let out: unknown[][];
      try {
        out = await execute(phases);
      } catch (error) {
        throw unavailable(error);
      }
      for (const phase of out) for (const value of phase) if (value instanceof Error && !isConflict(value)) throw unavailable(value);
      return out;
    },
    close() {
      redis.off('error', onError);
    },
  };
}

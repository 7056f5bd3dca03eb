/**
 * Turns "the message was written to the socket" into "the server has it" for a batch of
 * publishes at once: one PING/PONG round trip (`flush`) confirms every publish written before it,
 * because the server answers a PING only after it has processed everything sent before it.
 *
 * Batching: the first publish of an idle period schedules a flush on the next `setImmediate`;
 * publishes made while a flush is in flight join the next batch, which is flushed as soon as the
 * current one settles. At most one flush is in flight, so under load there is one round trip per
 * round-trip time, whatever the publish rate.
 */

export interface FlushBatcher {
  /**
   * Call right after writing a message: returns the promise of the batch it belongs to, which
   * resolves when the flush covering it succeeds and rejects (with `makeError(cause)`) when it
   * fails, times out, or `failAll` is called first. Callers of one batch share one promise.
   */
  track(): Promise<void>;
  /** Rejects every batch not yet confirmed (the connection is gone: no PONG will come). */
  failAll(cause?: unknown): void;
  /** Resolves once nothing is pending or in flight (used before closing). */
  idle(): Promise<void>;
  /** Number of flush round trips started so far. */
  readonly flushes: number;
}

export interface FlushBatcherOptions {
  /** One round trip to the server; resolves when it answered. */
  flush: () => Promise<void>;
  /** A batch not confirmed within this time is rejected (the message may still arrive). */
  timeoutMs: number;
  /** The error a rejected batch carries. */
  makeError: (cause?: unknown) => Error;
  /** Told how many tracked publishes a rejected batch held (for metrics). */
  onRejected?: (count: number) => void;
}

interface Batch {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
  settled: boolean;
  count: number;
  timer?: NodeJS.Timeout;
}

function newBatch(): Batch {
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  return { promise, resolve, reject, settled: false, count: 0 };
}

export function createFlushBatcher(options: FlushBatcherOptions): FlushBatcher {
  let pending: Batch | undefined;
  let inFlight: Batch | undefined;
  let scheduled = false;
  let flushes = 0;
  let idleWaiters: Array<() => void> = [];

  const notifyIdle = () => {
    if (pending || inFlight || idleWaiters.length === 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  };

  const settle = (batch: Batch, error?: Error) => {
    if (batch.settled) return;
    batch.settled = true;
    clearTimeout(batch.timer);
    if (error) {
      batch.reject(error);
      options.onRejected?.(batch.count);
    } else batch.resolve();
    if (inFlight === batch) {
      inFlight = undefined;
      if (pending && !scheduled) start();
    }
    notifyIdle();
  };

  const start = () => {
    scheduled = false;
    if (inFlight || !pending) return;
    const batch = pending;
    pending = undefined;
    inFlight = batch;
    flushes++;
    batch.timer = setTimeout(() => settle(batch, options.makeError(new Error(`no flush reply within ${options.timeoutMs} ms`))), options.timeoutMs);
    let flushed: Promise<void>;
    try {
      flushed = options.flush();
    } catch (err) {
      settle(batch, options.makeError(err));
      return;
    }
    flushed.then(
      () => settle(batch),
      (err: unknown) => settle(batch, options.makeError(err)),
    );
  };

  return {
    track() {
      if (!pending) {
        pending = newBatch();
        if (!inFlight && !scheduled) {
          scheduled = true;
          setImmediate(start);
        }
      }
      pending.count++;
      return pending.promise;
    },
    failAll(cause?: unknown) {
      const error = options.makeError(cause);
      const batches = [inFlight, pending];
      pending = undefined;
      for (const b of batches) if (b) settle(b, error);
    },
    idle() {
      if (!pending && !inFlight) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    get flushes() {
      return flushes;
    },
  };
}

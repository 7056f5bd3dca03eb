import { describe, expect, it } from 'vitest';
import { createFlushBatcher } from '../src/flush-batcher.ts';

/** A flush whose round trips the test answers by hand. */
function manualFlush() {
  const replies: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  return {
    replies,
    flush: () => {
      const { promise, resolve, reject } = Promise.withResolvers<void>();
      replies.push({ resolve, reject });
      return promise;
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));
const outcome = (p: Promise<void>) => p.then(() => 'ok', (e: Error) => e.message);

describe('flush batcher', () => {
  it('flush batcher - publishes of one tick share one flush; those made meanwhile share the next', async () => {
    const f = manualFlush();
    let rejected = 0;
    const batcher = createFlushBatcher({ flush: f.flush, timeoutMs: 1_000, makeError: () => new Error('down'), onRejected: (n) => (rejected += n) });
    const first = [batcher.track(), batcher.track(), batcher.track()];
    expect(first[0]).toBe(first[2]);
    await tick();
    expect(f.replies).toHaveLength(1);
    const second = [batcher.track(), batcher.track()];
    await tick();
    expect(f.replies).toHaveLength(1); // one in flight at a time
    f.replies[0]?.resolve();
    await Promise.all(first);
    expect(f.replies).toHaveLength(2);
    f.replies[1]?.resolve();
    await Promise.all(second);
    expect(batcher.flushes).toBe(2);
    expect(rejected).toBe(0);
    await batcher.idle();
  });

  it('flush batcher - a failed or late flush rejects its batch only, and the next batch goes on', async () => {
    const f = manualFlush();
    let rejected = 0;
    const batcher = createFlushBatcher({ flush: f.flush, timeoutMs: 50, makeError: (cause) => new Error(`down: ${String((cause as Error)?.message)}`), onRejected: (n) => (rejected += n) });
    const late = batcher.track();
    await tick();
    const next = batcher.track();
    expect(await outcome(late)).toMatch(/no flush reply within 50 ms/);
    await tick();
    expect(f.replies).toHaveLength(2);
    f.replies[0]?.resolve(); // the late reply changes nothing
    f.replies[1]?.reject(new Error('socket closed'));
    expect(await outcome(next)).toBe('down: socket closed');
    expect(rejected).toBe(2);
  });

  it('flush batcher - failAll rejects the in-flight and the pending batch at once', async () => {
    const f = manualFlush();
    const batcher = createFlushBatcher({ flush: f.flush, timeoutMs: 1_000, makeError: () => new Error('connection lost') });
    const inFlight = batcher.track();
    await tick();
    const pending = batcher.track();
    const idle = batcher.idle();
    batcher.failAll();
    expect(await outcome(inFlight)).toBe('connection lost');
    expect(await outcome(pending)).toBe('connection lost');
    await idle;
    const after = batcher.track();
    await tick();
    f.replies.at(-1)?.resolve();
    expect(await outcome(after)).toBe('ok');
  });
});

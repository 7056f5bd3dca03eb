import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TimeoutError } from '@nats-io/transport-node';
import { hedged } from '../src/hedged-request.ts';

/** Requests the test answers or refuses by hand, in any order. */
function controlled() {
  const copies: Array<{ resolve(value: string): void; reject(error: Error): void }> = [];
  const request = () => new Promise<string>((resolve, reject) => void copies.push({ resolve, reject }));
  return { copies, request };
}

describe('hedged request', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());
  const options = (discarded: string[]) => ({ afterMs: 1_000, max: 3, timeoutMs: 3_000, discard: (late: string) => void discarded.push(late) });

  it('hedged - an answer within the hedge delay is the only copy', async () => {
    const { copies, request } = controlled();
    const result = hedged(request, options([]));
    copies[0]!.resolve('a');
    await expect(result).resolves.toBe('a');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(copies).toHaveLength(1);
  });

  it('hedged - a slow copy gets a companion every delay, up to the maximum; the first answer wins and later ones are discarded', async () => {
    const { copies, request } = controlled();
    const discarded: string[] = [];
    const result = hedged(request, options(discarded));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(copies).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(copies).toHaveLength(3);
    copies[1]!.resolve('second');
    await expect(result).resolves.toBe('second');
    copies[0]!.resolve('first, late');
    copies[2]!.resolve('third, late');
    await vi.advanceTimersByTimeAsync(0);
    expect(discarded).toEqual(['first, late', 'third, late']);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(copies).toHaveLength(3);
  });

  it('hedged - the first copy keeps its time: it may answer after its companions were sent', async () => {
    const { copies, request } = controlled();
    const result = hedged(request, options([]));
    await vi.advanceTimersByTimeAsync(2_500);
    copies[0]!.resolve('slow first');
    await expect(result).resolves.toBe('slow first');
  });

  it('hedged - no answer by the deadline is a TimeoutError; an answer after it is discarded', async () => {
    const { copies, request } = controlled();
    const discarded: string[] = [];
    const result = hedged(request, options(discarded));
    const outcome = result.catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(await outcome).toBeInstanceOf(TimeoutError);
    copies[0]!.resolve('too late');
    await vi.advanceTimersByTimeAsync(0);
    expect(discarded).toEqual(['too late']);
  });

  it('hedged - a refusal fails the request only once no other copy is pending', async () => {
    const { copies, request } = controlled();
    const result = hedged(request, options([]));
    const outcome = result.catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(1_000);
    copies[0]!.reject(new Error('no leader'));
    await vi.advanceTimersByTimeAsync(0);
    copies[1]!.reject(new Error('stream not found'));
    expect(((await outcome) as Error).message).toBe('stream not found');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(copies).toHaveLength(2);
  });
});

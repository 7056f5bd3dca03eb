import { describe, expect, it } from 'vitest';
import { runSoak } from '../src/index.ts';

describe('soak', () => {
  it('soak (short) - each kind of fault once under traffic: nothing acknowledged lost or duplicated, order, presence and resume bounds hold', async () => {
    const report = await runSoak({ durationMs: 20_000, minFaults: 7, faultEveryMs: 2_500, clients: 9, rooms: 3 });
    expect(report.problems).toEqual([]);
    expect(new Set(report.faults).size).toBe(7);
    expect(report.acknowledged).toBeGreaterThan(100);
  }, 180_000);
});

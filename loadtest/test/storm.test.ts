import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSequence } from '../bench/storm-check.ts';
import { DEFAULT_STORM_CONFIG, runStorm } from '../bench/storm-run.ts';
import { startStormSystem, type StormSystem } from '../bench/storm-systems.ts';

describe('reconnect storm check', () => {
  it('counts lost, duplicated, out-of-order and foreign messages after the join position', () => {
    const expected = [3, 7, 8, 12, 20];
    expect(checkSequence([{ name: 'ok', received: [8, 12, 20], after: 7, expected }])).toMatchObject({ lost: 0, duplicates: 0, outOfOrder: 0, unexpected: 0 });
    const bad = checkSequence([{ name: 'bad', received: [7, 12, 12, 9, 20], after: 3, expected }]);
    expect(bad).toMatchObject({ clientsWithLoss: 1, lost: 1, duplicates: 1, outOfOrder: 2, unexpected: 1 });
  });
});

/**
 * `npm run bench:storm` in small (docs/benchmarks.md, "Reconnect storm"): 300 clients of a history
 * tenant on one gateway of the local cluster, which is SIGKILLed while publishers on the other two
 * keep publishing. Every client must resume on another gateway with everything exactly once. No
 * timing is asserted: the machine is shared; the deadline only bounds a hang.
 */
describe('reconnect storm (300 clients, Parley)', () => {
  let system: StormSystem;
  let logDir: string;

  beforeAll(async () => {
    logDir = mkdtempSync(join(tmpdir(), 'parley-storm-test-'));
    system = await startStormSystem('parley', { logDir, historySize: 10_000 });
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
    if (logDir) rmSync(logDir, { recursive: true, force: true });
  }, 60_000);

  it('loadtest - every client of a SIGKILLed gateway resumes elsewhere with nothing lost or duplicated', async () => {
    const result = await runStorm(system, { ...DEFAULT_STORM_CONFIG, clients: 300, rooms: 10, publishRate: 40, workers: 1, beforeMs: 1000, warmupMs: 1000, deadlineMs: 90_000, progressEveryMs: 5000 }, (line) => console.log(`[storm] ${line}`));
    console.log(`storm figures: ${JSON.stringify({ fromKillMs: result.fromKillMs, perClientResumeMs: result.perClientResumeMs, storm: result.storm, latency: result.latency })}`);
    expect(result.notResumed, 'clients not caught up').toBe(0);
    expect(result.storm.lost, 'messages lost by storm clients').toBe(0);
    expect(result.storm.duplicates, 'duplicates').toBe(0);
    expect(result.storm.outOfOrder, 'out of order').toBe(0);
    expect(result.survivors.lost, 'messages lost by survivors').toBe(0);
    expect(result.gaps, 'history gaps').toBe(0);
    expect(result.unexpectedCloses, 'closes of survivors and publishers').toBe(0);
    expect(result.published.acked).toBeGreaterThan(0);
    expect(result.published.ackedButSeenByNoSurvivor).toBe(0);
  }, 240_000);
});

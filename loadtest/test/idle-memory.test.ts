import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureIdle } from '../bench/phases.ts';
import { startSystem, type RunningSystem } from '../bench/systems.ts';

/**
 * The memory guard: 10,000 authenticated connections, each with its own token, join one room on
 * one gateway (started with its production command, V8 flags included); the gateway's RSS may
 * grow by IDLE_BOUNDS.maxBytesPerConnection per connection at most, twice the median measured
 * here (2.2–3.3 KB, docs/benchmarks.md). Without the V8 flags it measured 13.4 KB; before the
 * memory work, 20 KB.
 */
const IDLE_CONNECTIONS = 10_000;
const IDLE_BOUNDS = { maxBytesPerConnection: 5 * 1024 };

describe('memory guard', () => {
  let system: RunningSystem;
  let logDir: string;

  beforeAll(async () => {
    logDir = mkdtempSync(join(tmpdir(), 'parley-idle-guard-'));
    system = await startSystem('parley', { nodes: 1, logDir });
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
    if (logDir) rmSync(logDir, { recursive: true, force: true });
  }, 60_000);

  it(`loadtest - ${IDLE_CONNECTIONS.toLocaleString('en-US')} idle authenticated connections cost the gateway at most ${IDLE_BOUNDS.maxBytesPerConnection} bytes of RSS each`, async () => {
    const result = await measureIdle(system, IDLE_CONNECTIONS, 2, { settleMs: 3000 });
    console.log(`memory guard figures: ${JSON.stringify(result)}`);
    expect(result.bytesPerConnection).toBeGreaterThan(0);
    expect(result.bytesPerConnection, 'gateway RSS per idle connection (bytes)').toBeLessThanOrEqual(IDLE_BOUNDS.maxBytesPerConnection);
  }, 180_000);
});

// `npm run bench`: the peak benchmark. Fan-out deliveries/s across two nodes, latency at half of
// that peak, silent-drop accounting, and memory per idle connection, for Parley and its peers
// (a bare uWebSockets.js + NATS bridge, alone and sending Parley-sized messages, Socket.IO +
// Redis adapter, Centrifugo), in the same run, with the same load generator, on loopback. Writes
// loadtest/results/bench-<time>.json.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RESULTS_DIR } from '../src/report.ts';
import { machineInfo } from './machine.ts';
import { ensureCentrifugo, ensureNpmPeers, peerVersions } from './peers.ts';
import { connectFanout, measureClosedLoop, measureIdle, measurePaced, type ClosedLoopRound, type FanoutConfig, type FanoutLoad, type FanoutResult, type IdleResult } from './phases.ts';
import { OPTIONAL_SYSTEMS, SKIP_IDLE, SYSTEMS, type SystemName } from './protocols.ts';
import { startSystem, type RunningSystem, type StartOptions } from './systems.ts';
import { formatBench, summarizeRuns, type SystemRuns } from './summary.ts';

const { values } = parseArgs({
  options: {
    systems: { type: 'string', default: SYSTEMS.join(',') },
    runs: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    rooms: { type: 'string', default: '8' },
    members: { type: 'string', default: '500' },
    window: { type: 'string', default: '32' },
    idle: { type: 'string', default: '15000' },
    'idle-users': { type: 'string' },
    workers: { type: 'string', default: '2' },
    'measure-ms': { type: 'string', default: '3000' },
    'skip-idle': { type: 'boolean', default: false },
    'payload-bytes': { type: 'string', default: '0' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`usage: npm run bench -- [--systems ${SYSTEMS.join(',')}] [--runs 3] [--rounds 3] [--rooms 8] [--members 500] [--window 32]
                       [--idle 15000] [--idle-users <distinct users; default one per connection>] [--workers 2] [--measure-ms 3000] [--skip-idle]
                       [--payload-bytes 0 (text added to every message)]
  also known: ${OPTIONAL_SYSTEMS.join(', ')} (Parley with permessage-deflate negotiated by every client)`);
  process.exit(0);
}
const systems = values.systems.split(',').map((s) => s.trim()) as SystemName[];
const KNOWN = [...SYSTEMS, ...OPTIONAL_SYSTEMS];
for (const s of systems) if (!KNOWN.includes(s)) throw new Error(`unknown system "${s}" (known: ${KNOWN.join(', ')})`);
const payloadBytes = Number(values['payload-bytes']);
if (!Number.isInteger(payloadBytes) || payloadBytes < 0 || payloadBytes > 32_768) throw new Error('--payload-bytes must be a whole number from 0 to 32768');
const int = (name: keyof typeof values) => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
  return n;
};
const runs = int('runs');
const roundsPerRun = int('rounds');
const idleCount = int('idle');
const workers = int('workers');
const fanout: FanoutConfig = { rooms: int('rooms'), members: int('members'), window: int('window'), warmupMs: 2000, measureMs: int('measure-ms'), pacedFractions: [0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5], latencyEvery: 4, workers, payloadBytes };

const startedAt = new Date();
const machine = await machineInfo();
console.error(`[bench] ${machine.cpuModel} × ${machine.cores}, load average ${machine.loadAverage.join(' ')}`);

const peers: Record<string, unknown> = {};
let peersDir: string | undefined;
let centrifugoBin: string | undefined;
if (systems.includes('socketio-redis')) {
  peersDir = await ensureNpmPeers();
  peers.npm = peerVersions(peersDir);
}
if (systems.includes('centrifugo')) {
  const built = await ensureCentrifugo();
  if ('error' in built) {
    peers.centrifugo = { error: built.error };
    console.error(`[bench] Centrifugo could not be built, it is left out:\n${built.error}`);
  } else {
    centrifugoBin = built.bin;
    peers.centrifugo = { version: built.version };
  }
}

const results: Record<string, SystemRuns> = {};
for (const s of systems) results[s] = { fanout: [], idle: [], errors: [] };
const runnable = systems.filter((name) => name !== 'centrifugo' || centrifugoBin);
const startOptions = (logDir: string): StartOptions => ({ nodes: 2, logDir, ...(peersDir && { peersDir }), ...(centrifugoBin && { centrifugoBin }) });
const logDirs = new Map<SystemName, string>(runnable.map((name) => [name, mkdtempSync(join(tmpdir(), `parley-bench-${name}-`))]));
const fail = (name: SystemName, what: string, error: unknown) => {
  results[name]!.errors.push(`${what}: ${(error as Error).message}`);
  console.error(`[bench]   ${name} failed: ${(error as Error).message}`);
};

for (let run = 1; run <= runs; run++) {
  // Every system is started and connected at once; their closed-loop rounds then take turns
  // (a different one first in every round), so that the machine's speed, which drifts by up to
  // ±25 % over minutes on a shared host, weighs on all of them alike.
  console.error(`[bench] run ${run}/${runs}: starting ${runnable.join(', ')} (2 nodes each, ${fanout.rooms} rooms × ${fanout.members} subscribers)`);
  const loads = new Map<SystemName, { system: RunningSystem; load: FanoutLoad | undefined }>();
  try {
    for (const name of runnable) {
      try {
        const system = await startSystem(name, startOptions(logDirs.get(name)!));
        loads.set(name, { system, load: undefined });
        loads.get(name)!.load = await connectFanout(system, fanout);
      } catch (error) {
        fail(name, `fan-out run ${run}`, error);
      }
    }
    // A first, unmeasured window per system: the JIT of Node-based servers and the generator's
    // own warm up there, not in the first measured round.
    for (const name of runnable) {
      const load = loads.get(name)?.load;
      if (!load) continue;
      try {
        await measureClosedLoop(load);
      } catch (error) {
        fail(name, `warm-up, run ${run}`, error);
        await closeLoad(loads, name);
      }
    }
    const rounds = new Map<SystemName, ClosedLoopRound[]>();
    for (let round = 0; round < roundsPerRun; round++) {
      const live = runnable.filter((name) => loads.get(name)?.load);
      for (const name of live.map((_, i) => live[(i + round) % live.length]!)) {
        try {
          const result = await measureClosedLoop(loads.get(name)!.load!);
          rounds.set(name, [...(rounds.get(name) ?? []), result]);
          console.error(`[bench]   round ${round + 1}/${roundsPerRun} ${name}: ${result.deliveriesPerSecond.toLocaleString('en-US')} deliveries/s (cpu ${JSON.stringify(result.cpu)})`);
        } catch (error) {
          fail(name, `closed loop, run ${run}`, error);
          await closeLoad(loads, name);
        }
      }
    }
    for (const name of runnable) {
      const entry = loads.get(name);
      if (!entry?.load || !rounds.get(name)?.length) continue;
      try {
        const result: FanoutResult = await measurePaced(entry.load, rounds.get(name)!);
        results[name]!.fanout.push({ ...result, run });
        console.error(`[bench]   ${name}: peak ${result.peak.deliveriesPerSecond.toLocaleString('en-US')} deliveries/s, paced peak ${result.pacedPeakPerSecond.toLocaleString('en-US')}/s, p50/p99 at half ${result.half?.latency?.p50Ms ?? '-'}/${result.half?.latency?.p99Ms ?? '-'} ms, silent drops ${result.accounting.silentMissing}`);
      } catch (error) {
        fail(name, `paced, run ${run}`, error);
      }
      await closeLoad(loads, name);
    }
  } finally {
    for (const name of loads.keys()) await closeLoad(loads, name);
  }
  if (values['skip-idle']) continue;
  for (const name of runnable.filter((n) => !SKIP_IDLE.has(n))) {
    console.error(`[bench] run ${run}/${runs}: ${name} idle memory (${idleCount.toLocaleString('en-US')} connections, 1 node)`);
    try {
      const system = await startSystem(name, { ...startOptions(logDirs.get(name)!), nodes: 1 });
      try {
        const result: IdleResult = await measureIdle(system, idleCount, workers, values['idle-users'] ? { users: int('idle-users') } : {});
        results[name]!.idle.push(result);
        console.error(`[bench]   ${result.bytesPerConnection} bytes RSS per idle connection`);
      } finally {
        await system.stop();
      }
    } catch (error) {
      fail(name, `idle run ${run}`, error);
    }
  }
}
for (const [name, dir] of logDirs) {
  if (results[name]!.errors.length === 0) rmSync(dir, { recursive: true, force: true });
  else console.error(`[bench] ${name}: logs kept in ${dir}`);
}

/** Closes a system's connections and stops it (once). */
async function closeLoad(loads: Map<SystemName, { system: RunningSystem; load: FanoutLoad | undefined }>, name: SystemName) {
  const entry = loads.get(name);
  if (!entry) return;
  loads.delete(name);
  await entry.load?.close().catch(() => undefined);
  await entry.system.stop().catch(() => undefined);
}

const summary = summarizeRuns(results);
const report = { startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), machine, loadAverageAtEnd: (await machineInfo()).loadAverage, config: { fanout, idleCount, runs }, peers, summary, runs: results };
mkdirSync(RESULTS_DIR, { recursive: true });
const file = join(RESULTS_DIR, `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
console.log(`\n${formatBench(summary, machine)}\n\n  results: ${file}`);

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
import { measureFanout, measureIdle, type FanoutConfig, type FanoutResult, type IdleResult } from './phases.ts';
import { SKIP_IDLE, SYSTEMS, type SystemName } from './protocols.ts';
import { startSystem, type StartOptions } from './systems.ts';
import { formatBench, summarizeRuns, type SystemRuns } from './summary.ts';

const { values } = parseArgs({
  options: {
    systems: { type: 'string', default: SYSTEMS.join(',') },
    runs: { type: 'string', default: '3' },
    rooms: { type: 'string', default: '8' },
    members: { type: 'string', default: '500' },
    window: { type: 'string', default: '32' },
    idle: { type: 'string', default: '15000' },
    'idle-users': { type: 'string' },
    workers: { type: 'string', default: '2' },
    'measure-ms': { type: 'string', default: '3000' },
    'skip-idle': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`usage: npm run bench -- [--systems ${SYSTEMS.join(',')}] [--runs 3] [--rooms 8] [--members 500] [--window 32]
                       [--idle 15000] [--idle-users <distinct users; default one per connection>] [--workers 2] [--measure-ms 3000] [--skip-idle]`);
  process.exit(0);
}
const systems = values.systems.split(',').map((s) => s.trim()) as SystemName[];
for (const s of systems) if (!SYSTEMS.includes(s)) throw new Error(`unknown system "${s}" (known: ${SYSTEMS.join(', ')})`);
const int = (name: keyof typeof values) => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
  return n;
};
const runs = int('runs');
const idleCount = int('idle');
const workers = int('workers');
const fanout: FanoutConfig = { rooms: int('rooms'), members: int('members'), window: int('window'), warmupMs: 2000, measureMs: int('measure-ms'), pacedFractions: [0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5], latencyEvery: 4, workers };

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

for (let run = 1; run <= runs; run++) {
  for (const name of systems) {
    if (name === 'centrifugo' && !centrifugoBin) continue;
    const logDir = mkdtempSync(join(tmpdir(), `parley-bench-${name}-`));
    const options: StartOptions = { nodes: 2, logDir, ...(peersDir && { peersDir }), ...(centrifugoBin && { centrifugoBin }) };
    const runs = results[name]!;
    const failuresBefore = runs.errors.length;
    console.error(`[bench] run ${run}/${values.runs}: ${name} fan-out (${fanout.rooms} rooms × ${fanout.members} subscribers, 2 nodes)`);
    try {
      const system = await startSystem(name, options);
      try {
        const result: FanoutResult = await measureFanout(system, fanout);
        runs.fanout.push(result);
        console.error(`[bench]   peak ${result.peak.deliveriesPerSecond.toLocaleString('en-US')} deliveries/s (cpu ${JSON.stringify(result.peak.cpu)}), paced peak ${result.pacedPeakPerSecond.toLocaleString('en-US')}/s, p50/p99 at half ${result.half?.latency?.p50Ms ?? '-'}/${result.half?.latency?.p99Ms ?? '-'} ms, silent drops ${result.accounting.silentMissing}`);
      } finally {
        await system.stop();
      }
    } catch (error) {
      runs.errors.push(`fan-out run ${run}: ${(error as Error).message}`);
      console.error(`[bench]   failed: ${(error as Error).message}`);
    }
    if (!values['skip-idle'] && !SKIP_IDLE.has(name)) {
      console.error(`[bench] run ${run}/${values.runs}: ${name} idle memory (${idleCount.toLocaleString('en-US')} connections, 1 node)`);
      try {
        const system = await startSystem(name, { ...options, nodes: 1 });
        try {
          const result: IdleResult = await measureIdle(system, idleCount, workers, values['idle-users'] ? { users: int('idle-users') } : {});
          runs.idle.push(result);
          console.error(`[bench]   ${result.bytesPerConnection} bytes RSS per idle connection`);
        } finally {
          await system.stop();
        }
      } catch (error) {
        runs.errors.push(`idle run ${run}: ${(error as Error).message}`);
        console.error(`[bench]   failed: ${(error as Error).message}`);
      }
    }
    if (runs.errors.length === failuresBefore) rmSync(logDir, { recursive: true, force: true });
    else console.error(`[bench]   logs kept in ${logDir}`);
  }
}

const summary = summarizeRuns(results);
const report = { startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), machine, loadAverageAtEnd: (await machineInfo()).loadAverage, config: { fanout, idleCount, runs }, peers, summary, runs: results };
mkdirSync(RESULTS_DIR, { recursive: true });
const file = join(RESULTS_DIR, `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
console.log(`\n${formatBench(summary, machine)}\n\n  results: ${file}`);

// `npm run bench:storm`: the reconnect storm of issue #19. One node holding 10,000 clients in
// rooms with history is SIGKILLed while publishers on the other nodes keep publishing; its clients
// reconnect to the surviving nodes with the client SDK's jittered backoff and resume from the
// last position they saw. Measures the time until all are reconnected, rejoined and caught up,
// messages lost or duplicated, the survivors' delivery latency before and during the storm, and
// the CPU and memory it cost the surviving nodes and brokers; for Parley and for Centrifugo (Redis
// engine, history and recovery). Writes loadtest/results/storm-<time>.json.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RESULTS_DIR } from '../src/report.ts';
import { machineInfo } from './machine.ts';
import { ensureCentrifugo } from './peers.ts';
import { STORM_SYSTEMS, type StormSystemName } from './storm-codecs.ts';
import { DEFAULT_STORM_CONFIG, runStorm, type StormConfig, type StormResult } from './storm-run.ts';
import { startStormSystem } from './storm-systems.ts';
import { formatStorm } from './storm-summary.ts';

const d = DEFAULT_STORM_CONFIG;
const { values } = parseArgs({
  options: {
    systems: { type: 'string', default: STORM_SYSTEMS.join(',') },
    runs: { type: 'string', default: '1' },
    clients: { type: 'string', default: String(d.clients) },
    rooms: { type: 'string', default: String(d.rooms) },
    'survivors-per-room': { type: 'string', default: String(d.survivorsPerRoom) },
    publishers: { type: 'string', default: String(d.publishers) },
    rate: { type: 'string', default: String(d.publishRate) },
    workers: { type: 'string', default: String(d.workers) },
    'backoff-base-ms': { type: 'string', default: String(d.backoffBaseMs) },
    'before-ms': { type: 'string', default: String(d.beforeMs) },
    'deadline-ms': { type: 'string', default: String(d.deadlineMs) },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`usage: npm run bench:storm -- [--systems ${STORM_SYSTEMS.join(',')}] [--runs 1] [--clients ${d.clients}] [--rooms ${d.rooms}]
                             [--survivors-per-room ${d.survivorsPerRoom}] [--publishers ${d.publishers}] [--rate ${d.publishRate} (messages/s, all rooms)]
                             [--workers ${d.workers}] [--backoff-base-ms ${d.backoffBaseMs}] [--before-ms ${d.beforeMs}] [--deadline-ms ${d.deadlineMs}]`);
  process.exit(0);
}
const systems = values.systems.split(',').map((s) => s.trim()) as StormSystemName[];
for (const s of systems) if (!STORM_SYSTEMS.includes(s)) throw new Error(`unknown system "${s}" (known: ${STORM_SYSTEMS.join(', ')})`);
const int = (name: keyof typeof values) => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
  return n;
};
const config: StormConfig = {
  ...d,
  clients: int('clients'),
  rooms: int('rooms'),
  survivorsPerRoom: int('survivors-per-room'),
  publishers: int('publishers'),
  publishRate: int('rate'),
  workers: int('workers'),
  backoffBaseMs: int('backoff-base-ms'),
  beforeMs: int('before-ms'),
  deadlineMs: int('deadline-ms'),
};
if (config.publishers > config.rooms) throw new Error('--publishers cannot exceed --rooms (each publisher has rooms of its own)');
const runs = int('runs');
const log = (line: string) => console.error(`[storm] ${line}`);

const startedAt = new Date();
const machine = await machineInfo();
log(`${machine.cpuModel} × ${machine.cores}, load average ${machine.loadAverage.join(' ')}`);
let centrifugoBin: string | undefined;
const peers: Record<string, unknown> = {};
if (systems.includes('centrifugo')) {
  const built = await ensureCentrifugo();
  if ('error' in built) {
    peers.centrifugo = { error: built.error };
    log(`Centrifugo could not be built, it is left out:\n${built.error}`);
  } else {
    centrifugoBin = built.bin;
    peers.centrifugo = { version: built.version };
  }
}

const results: StormResult[] = [];
const errors: string[] = [];
for (let run = 1; run <= runs; run++) {
  for (const name of systems) {
    if (name === 'centrifugo' && !centrifugoBin) continue;
    const logDir = mkdtempSync(join(tmpdir(), `parley-storm-${name}-`));
    log(`run ${run}/${runs}: ${name}, 3 nodes, ${config.clients.toLocaleString('en-US')} clients on node 1 in ${config.rooms} rooms (load average ${(await machineInfo()).loadAverage.join(' ')})`);
    let ok = false;
    try {
      const system = await startStormSystem(name, { logDir, historySize: 10_000, ...(centrifugoBin && { centrifugoBin }) });
      try {
        const result = await runStorm(system, config, log);
        results.push(result);
        ok = true;
      } finally {
        await system.stop();
      }
    } catch (error) {
      errors.push(`${name}, run ${run}: ${(error as Error).message}`);
      log(`${name} failed: ${(error as Error).message}; logs kept in ${logDir}`);
    }
    if (ok) rmSync(logDir, { recursive: true, force: true });
  }
}

const report = { startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), machine, loadAverageAtEnd: (await machineInfo()).loadAverage, config, runs, peers, errors, results };
mkdirSync(RESULTS_DIR, { recursive: true });
const file = join(RESULTS_DIR, `storm-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
console.log(`\n${formatStorm(results, machine)}\n\n  results: ${file}`);
process.exit(errors.length === 0 && results.every((r) => r.notResumed === 0 && r.storm.lost === 0) ? 0 : 1);

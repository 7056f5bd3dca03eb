import { parseArgs } from 'node:util';
import { runSoak } from './soak.ts';

/** `npm run soak -- --minutes 20`: faults under traffic on a local cluster, then the checks; exit 1 on any problem. */
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    clients: { type: 'string', default: '12' },
    'fault-every-ms': { type: 'string', default: '4000' },
  },
});
const minutes = Number(values.minutes);
if (!(minutes > 0 && minutes <= 24 * 60)) throw new Error('--minutes must be between 0 and 1440');
const started = Date.now();
const report = await runSoak({
  durationMs: minutes * 60_000,
  clients: Number(values.clients),
  faultEveryMs: Number(values['fault-every-ms']),
  log: (line) => console.log(`[soak +${Math.round((Date.now() - started) / 1000)}s] ${line}`),
});
const counts = new Map<string, number>();
for (const f of report.faults) counts.set(f, (counts.get(f) ?? 0) + 1);
console.log(JSON.stringify({ ...report, faults: Object.fromEntries(counts) }, null, 2));
console.log(report.problems.length === 0 ? 'soak: every check held' : `soak: ${report.problems.length} problems`);
process.exit(report.problems.length === 0 ? 0 : 1);

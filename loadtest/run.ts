// `npm run loadtest -- <scenario> [options]`: makes sure k6 is installed, starts the local
// cluster (or attaches to a running one), runs the k6 scenario, writes
// loadtest/results/<scenario>-<time>.json and prints a short table. Exits with k6's code.
import { parseArgs } from 'node:util';
import { SCENARIOS, ensureK6, isScenario, runK6 } from './src/k6.ts';
import { sampleGateways, usageBetween, type GatewayUsage } from './src/gateway-sample.ts';
import { buildReport, formatReport, writeReport } from './src/report.ts';
import { DEFAULT_CLUSTER_FILE, attachTarget, startTarget, targetEnv, type Target } from './src/target.ts';

const USAGE = `usage: npm run loadtest -- <scenario> [--duration 30s] [--gateways 2] [--attach [file]] [--set KNOB=value …]

scenarios: ${SCENARIOS.join(', ')}
  --duration   how long the scenario runs (k6 duration: 20s, 2m, 1m30s); default: the scenario's
  --gateways   gateways of the local cluster started for the run (default 2)
  --attach     use a running cluster described by ${DEFAULT_CLUSTER_FILE} (npm run cluster) or the given file
  --set        a scenario knob, e.g. --set SUBSCRIBERS=400 --set PUBLISH_RATE=15 (see loadtest/README.md)`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    duration: { type: 'string' },
    gateways: { type: 'string', default: '2' },
    attach: { type: 'boolean', default: false },
    set: { type: 'string', multiple: true, default: [] },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const scenario = positionals[0];
if (values.help || !scenario || !isScenario(scenario)) {
  console.error(scenario && !values.help ? `unknown scenario "${scenario}"\n\n${USAGE}` : USAGE);
  process.exit(values.help ? 0 : 2);
}
const knobs: Record<string, string> = {};
for (const pair of values.set) {
  const eq = pair.indexOf('=');
  if (eq <= 0 || !/^[A-Z][A-Z0-9_]*$/.test(pair.slice(0, eq))) {
    console.error(`--set expects KNOB=value, not "${pair}"`);
    process.exit(2);
  }
  knobs[pair.slice(0, eq)] = pair.slice(eq + 1);
}
if (values.duration) knobs.DURATION = values.duration;
const gatewayCount = Number(values.gateways);
if (!Number.isInteger(gatewayCount) || gatewayCount < 1) {
  console.error('--gateways must be a positive integer');
  process.exit(2);
}

console.error('[loadtest] checking k6 (the first time it is built from the Go module proxy, which takes minutes)');
const k6 = await ensureK6();

let target: Target;
if (values.attach) {
  target = attachTarget(positionals[1] ?? DEFAULT_CLUSTER_FILE);
  console.error(`[loadtest] attached to ${target.gateways.length} gateways`);
} else {
  console.error(`[loadtest] starting the local cluster: NATS, Redis, auth, presence, ${gatewayCount} gateways`);
  target = await startTarget({ gateways: gatewayCount });
  console.error(`[loadtest] cluster up; logs in ${target.logDir}`);
}

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await target.stop();
};
process.once('SIGINT', () => void stop().then(() => process.exit(130)));
process.once('SIGTERM', () => void stop().then(() => process.exit(143)));

let exitCode = 1;
try {
  const startedAt = new Date();
  const before = await sampleGateways(target.gateways).catch(() => undefined);
  const result = await runK6({ k6, scenario, env: { ...targetEnv(target), ...knobs } });
  const after = await sampleGateways(target.gateways).catch(() => undefined);
  const usage: GatewayUsage | undefined = before && after ? usageBetween(before, after) : undefined;
  if (!result.summary) console.error('[loadtest] k6 wrote no summary (script error?)');
  const report = buildReport({ scenario, startedAt, gateways: target.gateways.length, knobs, result, usage });
  const file = writeReport(report);
  console.log(`\n${formatReport(report)}\n\n  summary: ${file}`);
  exitCode = result.exitCode;
} finally {
  await stop();
}
process.exit(exitCode);

// `npm run test:repeat -- N [vitest filters…]`: runs the test suite (scripts/test.sh) N times, one
// run after another, and prints per test how many runs it failed, so flakiness is measured rather
// than guessed. Each run is a fresh `scripts/test.sh`: its own servers on free ports, its own
// temporary folders. The reports of every run stay in test-results/repeat/<run>/.
// Exits 0 only when every run passed.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RESULTS = join(ROOT, 'test-results');
const REPEAT_DIR = join(RESULTS, 'repeat');

interface VitestReport {
  testResults: { name: string; status: string; message?: string; assertionResults: { fullName: string; status: string }[] }[];
}

interface RunOutcome {
  passed: number;
  failed: number;
  seconds: number;
  failures: string[];
  /** Server processes still running after the run (named by their command line). */
  leftovers: string[];
}

const [countArg, ...filters] = process.argv.slice(2);
const runs = Number(countArg ?? 10);
if (!Number.isInteger(runs) || runs < 1) {
  console.error('usage: npm run test:repeat -- N [vitest filters…]   (N ≥ 1 runs of scripts/test.sh)');
  process.exit(2);
}

function runSuite(run: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['scripts/test.sh', ...filters], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer) => (output += d);
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const progress = setInterval(() => {
      const files = (output.match(/^ [✓❯×] \S+\.test\.ts/gmu) ?? []).length;
      process.stdout.write(`[repeat] run ${run}/${runs}: ${files} test files done\n`);
    }, 60_000);
    child.once('close', (code) => {
      clearInterval(progress);
      resolve({ code: code ?? 1, output });
    });
  });
}

function failuresOf(dir: string): string[] {
  const failures: string[] = [];
  const checks = join(dir, 'checks.txt');
  if (existsSync(checks)) {
    for (const line of readFileSync(checks, 'utf8').split('\n')) if (line.startsWith('failed ')) failures.push(`[check] ${line.slice(7)}`);
  }
  for (const file of ['vitest.json', 'guard.json', 'federation.json', 'kube.json']) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    let report: VitestReport;
    try {
      report = JSON.parse(readFileSync(path, 'utf8')) as VitestReport;
    } catch {
      failures.push(`[report] ${file} unreadable`);
      continue;
    }
    for (const suite of report.testResults) {
      const file = suite.name.startsWith(ROOT) ? suite.name.slice(ROOT.length) : suite.name;
      if (suite.status === 'failed' && suite.assertionResults.length === 0) failures.push(`${file} (the file crashed)`);
      for (const test of suite.assertionResults) if (test.status === 'failed') failures.push(`${file} > ${test.fullName}`);
    }
  }
  return failures;
}

async function leftoverServers(): Promise<string[]> {
  const { execFileSync } = await import('node:child_process');
  try {
    const out = execFileSync('pgrep', ['-a', '-f', '(redis-server|nats-server|parley-gateway|embedded/src/main.ts)'], { encoding: 'utf8' });
    return out.split('\n').filter((l) => l.trim() && !l.includes('pgrep'));
  } catch {
    return [];
  }
}

rmSync(REPEAT_DIR, { recursive: true, force: true });
const outcomes: RunOutcome[] = [];
const started = Date.now();
for (let run = 1; run <= runs; run++) {
  const runStarted = Date.now();
  process.stdout.write(`[repeat] run ${run}/${runs} starts${filters.length ? ` (${filters.join(' ')})` : ''}\n`);
  const { code, output } = await runSuite(run);
  const dir = join(REPEAT_DIR, String(run));
  mkdirSync(dir, { recursive: true });
  for (const file of ['checks.txt', 'vitest.json', 'guard.json', 'federation.json', 'kube.json']) if (existsSync(join(RESULTS, file))) cpSync(join(RESULTS, file), join(dir, file));
  const counts = /^(\d+) passed, (\d+) failed$/m.exec(output.split('\n').reverse().join('\n'));
  const passed = Number(counts?.[1] ?? 0);
  const failed = Number(counts?.[2] ?? 1) || (code === 0 ? 0 : 1);
  const failures = failuresOf(dir);
  if (failed > 0 && failures.length === 0) failures.push(`[suite] exited ${code} (see test-results/repeat/${run})`);
  const leftovers = await leftoverServers();
  const seconds = Math.round((Date.now() - runStarted) / 1000);
  outcomes.push({ passed, failed, seconds, failures, leftovers });
  process.stdout.write(`[repeat] run ${run}/${runs}: ${passed} passed, ${failed} failed in ${seconds} s\n`);
  for (const f of failures) process.stdout.write(`[repeat]   failed: ${f}\n`);
  for (const l of leftovers) process.stdout.write(`[repeat]   still running after the run: ${l}\n`);
}

const red = outcomes.filter((o) => o.failed > 0 || o.leftovers.length > 0).length;
const perTest = new Map<string, number>();
for (const o of outcomes) for (const f of new Set(o.failures)) perTest.set(f, (perTest.get(f) ?? 0) + 1);
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
process.stdout.write(`\n[repeat] ${runs} runs in ${minutes} min: ${runs - red} green, ${red} red\n`);
process.stdout.write(`[repeat] per run: ${outcomes.map((o) => `${o.passed}/${o.passed + o.failed} in ${o.seconds} s`).join(', ')}\n`);
if (perTest.size === 0) process.stdout.write('[repeat] no test failed in any run\n');
else {
  process.stdout.write('[repeat] failed runs per test:\n');
  for (const [name, count] of [...perTest].sort((a, b) => b[1] - a[1])) process.stdout.write(`  ${count}/${runs}  ${name}\n`);
}
process.exit(red === 0 ? 0 : 1);

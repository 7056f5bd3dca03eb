import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LOADTEST_DIR, REPO_ROOT } from './paths.ts';

const run = promisify(execFile);

/** The scenarios under `loadtest/scenarios/`, by name. */
export const SCENARIOS = ['connection-storm', 'room-fanout', 'chat-mix', 'soak'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export function isScenario(name: string): name is ScenarioName {
  return (SCENARIOS as readonly string[]).includes(name);
}

/**
 * Path of the pinned k6 binary, built with `go install` from the Go module proxy by
 * `scripts/ensure-tool.sh k6` when it is missing or stale (several minutes the first time).
 */
export async function ensureK6(): Promise<string> {
  const { stdout } = await run('bash', [join(REPO_ROOT, 'scripts/ensure-tool.sh'), 'k6'], { maxBuffer: 1 << 20, timeout: 20 * 60_000 });
  const path = stdout.trim().split('\n').pop();
  if (!path) throw new Error('scripts/ensure-tool.sh k6 printed no path');
  return path;
}

/** One metric of k6's `--summary-export` file (counters have count/rate, trends percentiles). */
export interface K6Metric {
  count?: number;
  rate?: number;
  value?: number;
  avg?: number;
  min?: number;
  med?: number;
  max?: number;
  'p(90)'?: number;
  'p(95)'?: number;
  'p(99)'?: number;
  /** Threshold expression → true when it FAILED (k6's export convention). */
  thresholds?: Record<string, boolean>;
}

export interface K6Summary {
  metrics: Record<string, K6Metric>;
}

export interface K6RunOptions {
  k6: string;
  scenario: ScenarioName;
  /** Variables the scenario reads through `__ENV` (cluster URLs, API key, knobs). */
  env: Record<string, string>;
  /** 'inherit' streams k6's output; 'capture' keeps it for `output`. @default 'inherit' */
  stdio?: 'inherit' | 'capture';
  /** Hard stop (SIGKILL after SIGINT) so that a stuck run cannot hang CI. @default 30 min */
  timeoutMs?: number;
}

export interface K6Result {
  /** 0 = passed; 99 = thresholds crossed; other = k6 or script error. */
  exitCode: number;
  summary: K6Summary | undefined;
  output: string;
  seconds: number;
}

/**
 * Runs one scenario with k6 and returns its summary. The exported summary is read from a private
 * temporary file, and k6's `setup_data` (which holds the minted tokens) is dropped from it.
 */
export async function runK6(options: K6RunOptions): Promise<K6Result> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-k6-'));
  const summaryFile = join(dir, 'summary.json');
  const script = join(LOADTEST_DIR, 'scenarios', `${options.scenario}.js`);
  const started = Date.now();
  const child = spawn(options.k6, ['run', '--quiet', '--no-color', '--summary-export', summaryFile, script], {
    cwd: LOADTEST_DIR,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', K6_NO_USAGE_REPORT: 'true', ...options.env },
    stdio: options.stdio === 'capture' ? ['ignore', 'pipe', 'pipe'] : 'inherit',
  });
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-64_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const timeoutMs = options.timeoutMs ?? 30 * 60_000;
  const timer = setTimeout(() => {
    child.kill('SIGINT');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  }, timeoutMs);
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  }).finally(() => clearTimeout(timer));
  let summary: K6Summary | undefined;
  try {
    const raw = JSON.parse(readFileSync(summaryFile, 'utf8')) as K6Summary & { setup_data?: unknown };
    summary = { metrics: raw.metrics };
  } catch {
    summary = undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { exitCode, summary, output, seconds: (Date.now() - started) / 1000 };
}

/** Threshold expressions that failed, as `metric: expression`. */
export function failedThresholds(summary: K6Summary | undefined): string[] {
  if (!summary) return [];
  const failed: string[] = [];
  for (const [name, metric] of Object.entries(summary.metrics)) {
    for (const [expression, crossed] of Object.entries(metric.thresholds ?? {})) if (crossed) failed.push(`${name}: ${expression}`);
  }
  return failed;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './service-process.ts';

/** The chart's alert rules, loaded as they ship (every rules/*.yaml file of the chart). */
export const CHART_RULE_FILES = join(REPO_ROOT, 'deploy/helm/parley/rules/*.yaml');

/** A process Prometheus scrapes at `<url>/metrics`, as the chart's ServiceMonitors would. */
export interface ScrapeTarget {
  /** The job, as in Kubernetes: the component (`gateway`, `auth`, `presence`). */
  job: string;
  /** The `pod` label, as the ServiceMonitor adds it: the process's name (`gateway-1`). */
  pod: string;
  /** Base URL, `http://127.0.0.1:<port>`. */
  url: string;
}

export interface PrometheusOptions {
  targets: ScrapeTarget[];
  /** Port of Prometheus's HTTP API on 127.0.0.1. */
  port: number;
  /** @default '5s' */
  scrapeInterval?: string;
  /** @default the scrape interval */
  evaluationInterval?: string;
  /** Rule files (globs allowed). @default the chart's alert rules */
  ruleFiles?: string[];
  /** Where Prometheus's own log goes: a file path, or 'ignore'. */
  output: string | 'ignore';
}

export interface PrometheusProcess {
  url: string;
  /** Replaces the scraped targets (file discovery: Prometheus picks the change up within a second). */
  setTargets(targets: ScrapeTarget[]): void;
  stop(): Promise<void>;
}

/** Path of the pinned `prometheus` binary; the first call builds it (minutes, logged on stderr). */
export async function ensurePrometheus(): Promise<string> {
  const child = spawn('bash', ['scripts/ensure-tool.sh', 'prometheus'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`scripts/ensure-tool.sh prometheus failed (${code})`);
  return out.trim().split('\n').pop() ?? '';
}

const targetsFile = (dir: string, job: string) => join(dir, `targets-${job}.json`);

/** Writes each job's file_sd file atomically (Prometheus must never read half a file). */
function writeTargets(dir: string, jobs: string[], targets: ScrapeTarget[]) {
  for (const job of jobs) {
    const groups = targets.filter((t) => t.job === job).map((t) => ({ targets: [new URL(t.url).host], labels: { pod: t.pod } }));
    const file = targetsFile(dir, job);
    writeFileSync(`${file}.tmp`, JSON.stringify(groups));
    renameSync(`${file}.tmp`, file);
  }
}

/**
 * A real Prometheus on loopback that scrapes the given Parley processes (one job per component,
 * discovered from files so gateways can be added) and evaluates the chart's alert rules.
 */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusProcess> {
  const binary = await ensurePrometheus();
  const dir = mkdtempSync(join(tmpdir(), 'parley-prometheus-'));
  const jobs = ['gateway', 'auth', 'presence', 'webhooks'];
  const scrapeInterval = options.scrapeInterval ?? '5s';
  writeTargets(dir, jobs, options.targets);
  const config = {
    global: { scrape_interval: scrapeInterval, scrape_timeout: scrapeInterval, evaluation_interval: options.evaluationInterval ?? scrapeInterval },
    rule_files: options.ruleFiles ?? [CHART_RULE_FILES],
    scrape_configs: jobs.map((job) => ({ job_name: job, metrics_path: '/metrics', file_sd_configs: [{ files: [targetsFile(dir, job)], refresh_interval: '1s' }] })),
  };
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, JSON.stringify(config, null, 2)); // JSON is YAML

  const child: ChildProcess = spawn(
    binary,
    [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${options.port}`],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let logTail = '';
  const keepTail = (d: Buffer) => (logTail = (logTail + d.toString()).slice(-4000));
  child.stdout?.on('data', keepTail);
  child.stderr?.on('data', keepTail);
  if (options.output !== 'ignore') {
    const log = createWriteStream(options.output, { flags: 'a' });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });

  let url: string;
  try {
    url = await Promise.race([
      waitReady(`http://127.0.0.1:${options.port}`, child, () => logTail),
      exited.then((code) => Promise.reject(new Error(`prometheus exited (${code}) before it was ready:\n${logTail}`))),
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    cleanup();
    throw error;
  }

  return {
    url,
    setTargets: (targets) => writeTargets(dir, jobs, targets),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      cleanup();
    },
  };
}

/** Resolves with `url` once Prometheus's `/-/ready` answers 200. */
async function waitReady(url: string, child: ChildProcess, log: () => string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && child.exitCode === null) {
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ready) return url;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`prometheus was not ready within ${timeoutMs} ms:\n${log()}`);
}

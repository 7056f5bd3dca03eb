import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { failedThresholds, type K6Metric, type K6Result, type ScenarioName } from './k6.ts';
import type { GatewayUsage } from './gateway-sample.ts';
import { LOADTEST_DIR } from './paths.ts';

export const RESULTS_DIR = join(LOADTEST_DIR, 'results');

/** What one `npm run loadtest` run produced, as written to `loadtest/results/`. */
export interface RunReport {
  scenario: ScenarioName;
  startedAt: string;
  seconds: number;
  passed: boolean;
  exitCode: number;
  gateways: number;
  knobs: Record<string, string>;
  failedThresholds: string[];
  gatewayUsage: (GatewayUsage & { cpuMicrosPerDelivery: number | undefined }) | undefined;
  /** k6's summary metrics (`--summary-export`, without setup data). */
  metrics: Record<string, K6Metric>;
}

export function buildReport(input: {
  scenario: ScenarioName;
  startedAt: Date;
  gateways: number;
  knobs: Record<string, string>;
  result: K6Result;
  usage: GatewayUsage | undefined;
}): RunReport {
  const metrics = input.result.summary?.metrics ?? {};
  const delivered = metrics.parley_delivered?.count ?? 0;
  return {
    scenario: input.scenario,
    startedAt: input.startedAt.toISOString(),
    seconds: input.result.seconds,
    passed: input.result.exitCode === 0,
    exitCode: input.result.exitCode,
    gateways: input.gateways,
    knobs: input.knobs,
    failedThresholds: failedThresholds(input.result.summary),
    gatewayUsage: input.usage && { ...input.usage, cpuMicrosPerDelivery: delivered > 0 ? (input.usage.cpuSeconds * 1e6) / delivered : undefined },
    metrics,
  };
}

export function writeReport(report: RunReport, dir = RESULTS_DIR): string {
  mkdirSync(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const file = join(dir, `${report.scenario}-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}

const ms = (v: number | undefined) => (v === undefined ? '-' : `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`);
const num = (v: number | undefined) => (v === undefined ? '-' : Math.round(v).toLocaleString('en-US'));

/** A short table of the figures that matter. */
export function formatReport(report: RunReport): string {
  const m = report.metrics;
  const trend = (name: string) => {
    const t = m[name];
    return t && t.count ? `p50 ${ms(t.med)}  p95 ${ms(t['p(95)'])}  p99 ${ms(t['p(99)'])}  max ${ms(t.max)}` : '-';
  };
  const count = (name: string) => num(m[name]?.count ?? 0);
  const rows: [string, string][] = [
    ['result', `${report.passed ? 'PASS' : 'FAIL'} (k6 exit ${report.exitCode}) in ${report.seconds.toFixed(1)} s, ${report.gateways} gateways`],
    ['delivered', `${count('parley_delivered')} messages, ${num(m.parley_delivered?.rate)}/s over the run`],
    ['published (acked)', `${count('parley_published')}, ${num(m.parley_published?.rate)}/s`],
    ['delivery latency', trend('parley_delivery_latency')],
    ['ack time', trend('parley_ack_time')],
    ['connect (→ welcome)', trend('parley_connect_time')],
    ['join (→ joined)', trend('parley_join_time')],
    ['presence query', trend('parley_presence_time')],
    ['connect errors', count('parley_connect_errors')],
    ['drops (slow consumer)', `${count('parley_drops')} (${count('parley_slow_consumer_closes')})`],
    ['lost in sequence', count('parley_lost')],
    ['error frames', count('parley_error_frames')],
  ];
  const u = report.gatewayUsage;
  if (u) {
    rows.push(['gateway CPU', `${u.cpuSeconds.toFixed(2)} s, ${u.cpuMicrosPerDelivery === undefined ? '-' : u.cpuMicrosPerDelivery.toFixed(1)} µs per delivered message`]);
    rows.push(['gateway RSS (max)', `${u.maxRssMiB.toFixed(0)} MiB`]);
    rows.push(['server latency', `p50 ${ms(u.serverLatencyP50Ms)}  p99 ${ms(u.serverLatencyP99Ms)} (publish → fan-out, gateway histograms)`]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`);
  if (report.failedThresholds.length) lines.push(`  thresholds crossed: ${report.failedThresholds.join('; ')}`);
  return `${report.scenario}\n${lines.join('\n')}`;
}

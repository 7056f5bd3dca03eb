import type { MachineInfo } from './machine.ts';
import type { FanoutResult, IdleResult } from './phases.ts';

export interface SystemRuns {
  /** One per run the system completed; `run` numbers them from 1. */
  fanout: Array<FanoutResult & { run: number }>;
  idle: IdleResult[];
  errors: string[];
}

/** Median with the smallest and largest value of the runs. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: number[]): Spread | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, n: sorted.length };
}

export interface SystemSummary {
  peakDeliveriesPerSecond: Spread | undefined;
  pacedPeakPerSecond: Spread | undefined;
  halfP50Ms: Spread | undefined;
  halfP99Ms: Spread | undefined;
  /** p50 and p99 (ms) at each paced step, by fraction of the closed-loop peak. */
  pacedP50Ms: Record<string, Spread | undefined>;
  pacedP99Ms: Record<string, Spread | undefined>;
  /** Delivered ÷ offered at each paced step (1 = kept up). */
  pacedDeliveryRatio: Record<string, Spread | undefined>;
  idleBytesPerConnection: Spread | undefined;
  /** Summed over runs. */
  silentMissing: number;
  accountedMissing: number;
  closedConns: number;
  errors: number;
  /** Median CPU use at peak, % of one core, by process group. */
  peakCpu: Record<string, number>;
  failures: string[];
}

export function summarizeRuns(results: Record<string, SystemRuns>) {
  const systems: Record<string, SystemSummary> = {};
  for (const [name, runs] of Object.entries(results)) {
    const cpuGroups = new Set(runs.fanout.flatMap((r) => Object.keys(r.peak.cpu)));
    systems[name] = {
      peakDeliveriesPerSecond: spread(runs.fanout.map((r) => r.peak.deliveriesPerSecond)),
      pacedPeakPerSecond: spread(runs.fanout.map((r) => r.pacedPeakPerSecond)),
      halfP50Ms: spread(runs.fanout.flatMap((r) => (r.half?.latency ? [r.half.latency.p50Ms] : []))),
      halfP99Ms: spread(runs.fanout.flatMap((r) => (r.half?.latency ? [r.half.latency.p99Ms] : []))),
      pacedP50Ms: Object.fromEntries(
        [...new Set(runs.fanout.flatMap((r) => r.steps.map((s) => s.fraction)))].map((f) => [
          String(f),
          spread(runs.fanout.flatMap((r) => r.steps.filter((s) => s.fraction === f && s.latency).map((s) => s.latency!.p50Ms))),
        ]),
      ),
      pacedP99Ms: Object.fromEntries(
        [...new Set(runs.fanout.flatMap((r) => r.steps.map((s) => s.fraction)))].map((f) => [
          String(f),
          spread(runs.fanout.flatMap((r) => r.steps.filter((s) => s.fraction === f && s.latency).map((s) => s.latency!.p99Ms))),
        ]),
      ),
      pacedDeliveryRatio: Object.fromEntries(
        [...new Set(runs.fanout.flatMap((r) => r.steps.map((s) => s.fraction)))].map((f) => [
          String(f),
          spread(runs.fanout.flatMap((r) => r.steps.filter((s) => s.fraction === f).map((s) => Math.round((s.deliveriesPerSecond / s.offeredPerSecond) * 100) / 100))),
        ]),
      ),
      idleBytesPerConnection: spread(runs.idle.map((r) => r.bytesPerConnection)),
      silentMissing: runs.fanout.reduce((s, r) => s + r.accounting.silentMissing, 0),
      accountedMissing: runs.fanout.reduce((s, r) => s + r.accounting.accountedMissing, 0),
      closedConns: runs.fanout.reduce((s, r) => s + r.accounting.closedConns, 0),
      errors: runs.fanout.reduce((s, r) => s + r.accounting.errors, 0),
      peakCpu: Object.fromEntries([...cpuGroups].map((g) => [g, spread(runs.fanout.map((r) => r.peak.cpu[g] ?? 0))!.median])),
      failures: runs.errors,
    };
  }
  // Closed loop: Parley's rate over the other system's in the same round of the same run (the
  // rounds of a run take turns, minutes apart at most), as median and spread.
  const pairedRatios: Record<string, Spread | undefined> = {};
  const parleyRuns = results.parley?.fanout ?? [];
  for (const [name, runs] of Object.entries(results)) {
    if (name === 'parley') continue;
    const ratios = runs.fanout.flatMap((other) => {
      const parley = parleyRuns.find((p) => p.run === other.run);
      if (!parley) return [];
      return other.peak.rounds.flatMap((rate, i) => (parley.peak.rounds[i] && rate ? [Math.round((parley.peak.rounds[i] / rate) * 100) / 100] : []));
    });
    pairedRatios[`closed-loop peak, round by round: parley / ${name}`] = spread(ratios);
  }
  const ratios: Record<string, number> = {};
  const parleyPaced = systems.parley?.pacedPeakPerSecond?.median;
  for (const [name, s] of Object.entries(systems)) {
    const other = s.pacedPeakPerSecond?.median;
    if (parleyPaced && name !== 'parley' && other) ratios[`paced peak (medians): parley / ${name}`] = Math.round((parleyPaced / other) * 100) / 100;
  }
  return { systems, pairedRatios, ratios };
}

export type BenchSummary = ReturnType<typeof summarizeRuns>;

const fmt = (s: Spread | undefined, digits = 0, unit = '') =>
  s ? `${s.median.toLocaleString('en-US', { maximumFractionDigits: digits })}${unit} (${s.min.toLocaleString('en-US', { maximumFractionDigits: digits })}–${s.max.toLocaleString('en-US', { maximumFractionDigits: digits })}, n=${s.n})` : '-';

/** A Markdown table, ready for docs/benchmarks.md. */
export function formatBench(summary: BenchSummary, machine: MachineInfo): string {
  const lines = [
    `${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}, ${machine.natsServer}, ${machine.redisServer}`,
    '',
    '| system | closed-loop peak deliveries/s | paced peak deliveries/s | p50 / p99 at half the paced peak (ms) | RSS per idle connection (bytes) | silent drops | counted closes | CPU at peak (% of a core): nodes / brokers / generator |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const [name, s] of Object.entries(summary.systems)) {
    lines.push(
      `| ${name} | ${fmt(s.peakDeliveriesPerSecond)} | ${fmt(s.pacedPeakPerSecond)} | ${fmt(s.halfP50Ms, 2)} / ${fmt(s.halfP99Ms, 2)} | ${fmt(s.idleBytesPerConnection)} | ${s.silentMissing} | ${s.closedConns} | ${s.peakCpu.nodes ?? '-'} / ${s.peakCpu.brokers ?? '-'} / ${s.peakCpu.generator ?? '-'} |`,
    );
  }
  lines.push('', '| system | paced sweep, × closed-loop peak: median p50 / p99 ms (delivered ÷ offered), runs that reached the step |', '|---|---|');
  for (const [name, s] of Object.entries(summary.systems)) {
    const ms = (v: Spread | undefined) => (v ? v.median.toFixed(2) : '-');
    const fractions = Object.keys(s.pacedP99Ms).sort((a, b) => Number(a) - Number(b));
    const steps = fractions.map((f) => `${f}: ${ms(s.pacedP50Ms[f])} / ${ms(s.pacedP99Ms[f])} (${s.pacedDeliveryRatio[f]?.median ?? '-'}) n=${s.pacedP99Ms[f]?.n ?? 0}`);
    lines.push(`| ${name} | ${steps.join('; ')} |`);
  }
  lines.push('', ...Object.entries(summary.pairedRatios).map(([k, v]) => `${k}: ${fmt(v, 2, '×')}`));
  lines.push(...Object.entries(summary.ratios).map(([k, v]) => `${k}: ${v}×`));
  for (const [name, s] of Object.entries(summary.systems)) for (const f of s.failures) lines.push(`${name} failed: ${f}`);
  return lines.join('\n');
}

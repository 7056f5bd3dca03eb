import { LoadPool } from './load-pool.ts';
import { cpuMeter, sampleProc } from './proc-stats.ts';
import type { LatencySummary } from './latency-histogram.ts';
import type { RunningSystem } from './systems.ts';
import type { ConnSpec } from './worker-messages.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A paced step whose median latency exceeds this (or twice the first step's) is queueing: past the paced peak. */
export const PACED_HEALTHY_P50_MS = 5;
/**
 * A paced step that delivers less than this share of what was offered did not keep up. Not
 * closer to 1: at the lightest steps a few bursts of 500 deliveries fall in or out of the window.
 */
export const PACED_MIN_DELIVERED = 0.9;
/** The lightest paced step offers at least this many publishes per second (all rooms together). */
export const PACED_MIN_PUBLISHES = 25;

export interface FanoutConfig {
  rooms: number;
  /** Subscribers per room (the room's publisher is one more member). */
  members: number;
  /** Messages each publisher keeps in flight (sent, own echo not yet back) at peak. */
  window: number;
  warmupMs: number;
  measureMs: number;
  /** The paced sweep, as fractions of the closed-loop peak, in increasing order. */
  pacedFractions: number[];
  /** Latency is sampled on every n-th subscriber. */
  latencyEvery: number;
  workers: number;
  /** Text added to every published payload (`--payload-bytes`), 0 for the bare timestamp. */
  payloadBytes?: number;
}

export interface Accounting {
  /** Messages a still-open connection never received: must be 0. */
  silentMissing: number;
  /** Messages missed by connections that were closed (slow consumer or other close, counted). */
  accountedMissing: number;
  closedConns: number;
  closeCodes: Record<string, number>;
  extra: number;
  errors: number;
}

export interface PacedStep {
  /** Fraction of the closed-loop peak offered. */
  fraction: number;
  offeredPerSecond: number;
  deliveriesPerSecond: number;
  latency: LatencySummary | undefined;
  cpu: Record<string, number>;
}

/** One closed-loop window: deliveries/s and CPU (% of a core) by process group. */
export interface ClosedLoopRound {
  deliveriesPerSecond: number;
  cpu: Record<string, number>;
}

export interface FanoutResult {
  connections: number;
  /**
   * The closed-loop peak of this run: the median of its rounds, each measured in turn with the
   * other systems' rounds (`rounds`, in order), and the mean CPU over them.
   */
  peak: { deliveriesPerSecond: number; publishesPerSecond: number; cpu: Record<string, number>; rounds: number[] };
  /** Highest paced rate that kept up without queueing (0: none did). */
  pacedPeakPerSecond: number;
  /** Paced at half of `pacedPeakPerSecond`. */
  half: PacedStep | undefined;
  /** The paced sweep, up to the first step that did not keep up. */
  steps: PacedStep[];
  accounting: Accounting;
}

/** A system's fan-out load: its connections, open and joined, in the load generator. */
export interface FanoutLoad {
  system: RunningSystem;
  config: FanoutConfig;
  pool: LoadPool;
  connections: number;
  groups: Record<string, number[]>;
  close(): Promise<void>;
}

async function connectOrThrow(pool: LoadPool, system: RunningSystem, specs: ConnSpec[], payloadBytes = 0) {
  const connected = await pool.connect(system.name, specs, undefined, payloadBytes);
  if (connected.failed > 0) throw new Error(`${connected.failed} of ${specs.length} connections failed: ${connected.firstError}`);
}

/**
 * Fan-out across nodes: `rooms` rooms of `members` subscribers spread evenly over the nodes, one
 * publisher per room (on one node, so half of every room is across the broker).
 */
export async function connectFanout(system: RunningSystem, config: FanoutConfig): Promise<FanoutLoad> {
  const nodes = system.ports.length;
  const specs: ConnSpec[] = [];
  const users: string[] = [];
  for (let r = 0; r < config.rooms; r++) {
    for (let k = 0; k < config.members; k++) {
      users.push(`sub-${r}-${k}`);
      specs.push({ port: system.ports[k % nodes]!, room: `room${r}`, publisher: false, sampled: k % config.latencyEvery === 0 });
    }
    users.push(`pub-${r}`);
    specs.push({ port: system.ports[r % nodes]!, room: `room${r}`, publisher: true, sampled: false });
  }
  const tokens = await system.tokens(users);
  specs.forEach((s, i) => {
    const token = tokens[i];
    if (token !== undefined) s.token = token;
  });
  const pool = new LoadPool(config.workers);
  try {
    await connectOrThrow(pool, system, specs, config.payloadBytes);
  } catch (error) {
    await pool.close();
    throw error;
  }
  return { system, config, pool, connections: specs.length, groups: { nodes: system.nodePids, brokers: system.brokerPids, generator: pool.pids }, close: () => pool.close() };
}

/**
 * One closed-loop window: every publisher keeps `window` messages in flight, so the rate
 * settles at what the whole system (servers, broker, load generator on the same cores)
 * sustains; then publishing stops and the system drains. The benchmark measures the systems'
 * rounds in turn, so that each ratio compares windows minutes apart at most.
 */
export async function measureClosedLoop(load: FanoutLoad): Promise<ClosedLoopRound> {
  const { deliveriesPerSecond, cpu } = await measureWindow(load, () => load.pool.publishWindow(load.config.window), load.config.warmupMs);
  return { deliveriesPerSecond, cpu };
}

/** Starts publishing, waits `warmupMs`, measures over `measureMs`, stops and lets the system drain. */
async function measureWindow(load: FanoutLoad, startPublishing: () => Promise<void>, warmupMs: number) {
  const { pool, config, groups } = load;
  await startPublishing();
  await sleep(warmupMs);
  const before = await pool.stats(true);
  const meter = cpuMeter(groups);
  const started = performance.now();
  await sleep(config.measureMs);
  const after = await pool.stats(true);
  const seconds = (performance.now() - started) / 1000;
  const cpu = meter();
  await pool.settleAndAccount(await pool.stopPublishing(), 500, 10_000);
  return { deliveriesPerSecond: Math.round((after.received - before.received) / seconds), cpu, latency: after.latency };
}

/**
 * After the closed-loop rounds: publishers send at a fixed rate, half of the paced peak is
 * offered and publish-to-delivery latency is sampled; finally every connection's count is
 * checked against what was published to its room (over the whole run, rounds included).
 */
export async function measurePaced(load: FanoutLoad, rounds: ClosedLoopRound[]): Promise<FanoutResult> {
  const { pool, config, groups } = load;
  const rates = rounds.map((r) => r.deliveriesPerSecond);
  const peakRate = [...rates].sort((a, b) => a - b)[rates.length >> 1]!;
  const peakCpu = Object.fromEntries(Object.keys(groups).map((g) => [g, Math.round(rounds.reduce((s, r) => s + (r.cpu[g] ?? 0), 0) / rounds.length)]));

  // Paced publishing: messages leave one by one at a fixed rate, as in a chat, so neither the
  // servers nor the generator get the batching of the closed loop. The sweep climbs by
  // fractions of the closed-loop peak until a step no longer keeps up (delivered under
  // PACED_MIN_DELIVERED of offered, or a median over PACED_HEALTHY_P50_MS and over twice the
  // first step's: a queue); the paced peak is the highest healthy step, and latency is then
  // measured at half of it.
  const pacedStep = async (fraction: number, offered: number): Promise<PacedStep> => {
    const window = await measureWindow(load, () => pool.publishRate(offered / (config.members + 1) / config.rooms), 1000);
    return { fraction, offeredPerSecond: Math.round(offered), ...window };
  };
  // A system whose single burst already takes longer (Socket.IO) is judged against its own
  // first, lightest step: queueing shows as a median that doubles.
  let baseP50 = 0;
  const healthy = (step: PacedStep) =>
    step.deliveriesPerSecond >= PACED_MIN_DELIVERED * step.offeredPerSecond && (step.latency?.p50Ms ?? Infinity) <= Math.max(PACED_HEALTHY_P50_MS, 2 * baseP50);
  const steps: PacedStep[] = [];
  // At least PACED_MIN_PUBLISHES per second: with fewer, a burst more or less in the window
  // moves the delivered count by several percent.
  const floor = PACED_MIN_PUBLISHES * (config.members + 1);
  const fractions = [...new Set(config.pacedFractions.map((f) => Math.round(Math.max(f, floor / peakRate) * 1000) / 1000))].sort((a, b) => a - b);
  for (const fraction of fractions) {
    const step = await pacedStep(fraction, peakRate * fraction);
    if (steps.length === 0) baseP50 = step.latency?.p50Ms ?? 0;
    steps.push(step);
    if (!healthy(step)) break;
  }
  const pacedPeak = Math.max(0, ...steps.filter(healthy).map((s) => s.offeredPerSecond));
  const half = pacedPeak > 0 ? await pacedStep(Math.round((pacedPeak / peakRate / 2) * 1000) / 1000, pacedPeak / 2) : undefined;
  const sent = await pool.stopPublishing();
  const accounting = await pool.settleAndAccount(sent);
  const final = await pool.stats();
  return {
    connections: load.connections,
    peak: { deliveriesPerSecond: peakRate, publishesPerSecond: Math.round(peakRate / (config.members + 1)), cpu: peakCpu, rounds: rates },
    pacedPeakPerSecond: pacedPeak,
    half,
    steps,
    accounting: { ...accounting, closeCodes: final.closes, errors: final.errors },
  };
}

export interface IdleResult {
  connections: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  bytesPerConnection: number;
}

/**
 * Memory per idle authenticated connection: on one node, after a warm-up of a few hundred
 * connections, `count` more connect (each with its own token where the system has auth) and
 * join one room; the node's RSS delta divided by `count`, once it has settled.
 */
export async function measureIdle(system: RunningSystem, count: number, workers: number, options: { settleMs?: number; users?: number } = {}): Promise<IdleResult> {
  const port = system.ports[0]!;
  const warmup = 200;
  const settleMs = options.settleMs ?? 5000;
  const distinct = options.users ?? warmup + count;
  const users = Array.from({ length: warmup + count }, (_, i) => `idle-${i % distinct}`);
  const tokens = await system.tokens(users);
  const specs: ConnSpec[] = users.map((_, i) => ({ port, room: 'idle', publisher: false, sampled: false, ...(tokens[i] !== undefined && { token: tokens[i] }) }));
  const pool = new LoadPool(workers);
  try {
    await connectOrThrow(pool, system, specs.slice(0, warmup));
    await sleep(2000);
    const before = sampleProc(system.nodePids[0]!).rssBytes;
    await connectOrThrow(pool, system, specs.slice(warmup));
    await sleep(settleMs);
    const after = sampleProc(system.nodePids[0]!).rssBytes;
    return { connections: count, rssBeforeMiB: before / 1048576, rssAfterMiB: after / 1048576, bytesPerConnection: Math.round((after - before) / count) };
  } finally {
    await pool.close();
  }
}

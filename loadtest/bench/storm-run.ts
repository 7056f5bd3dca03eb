import { HISTOGRAM_BUCKETS, addPairs, summarize, type LatencySummary } from './latency-histogram.ts';
import { sampleProc } from './proc-stats.ts';
import { mergeChecks, percentile } from './storm-check.ts';
import type { ResumeTimes, SequenceCheck, StormClientSpec, StormProgress } from './storm-messages.ts';
import { StormWorker } from './storm-pool.ts';
import type { StormSystem } from './storm-systems.ts';

export interface StormConfig {
  /** Clients on the node that is killed. */
  clients: number;
  rooms: number;
  /** Survivors per room, alternating over the surviving nodes. */
  survivorsPerRoom: number;
  publishers: number;
  /** Messages per second over all rooms, published by the publishers throughout. */
  publishRate: number;
  /** Processes holding the storm clients (survivors and publishers have one more). */
  workers: number;
  /** Upper bound of the first reconnect delay (the client SDK's default: 500 ms, full jitter). */
  backoffBaseMs: number;
  warmupMs: number;
  /** Latency window before the kill. */
  beforeMs: number;
  /** Give up waiting for every client to catch up after this long. */
  deadlineMs: number;
  /** Progress lines on long phases. */
  progressEveryMs: number;
}

export const DEFAULT_STORM_CONFIG: StormConfig = {
  clients: 10_000,
  rooms: 100,
  survivorsPerRoom: 2,
  publishers: 4,
  publishRate: 200,
  workers: 2,
  backoffBaseMs: 500,
  warmupMs: 2000,
  beforeMs: 5000,
  deadlineMs: 120_000,
  progressEveryMs: 2000,
};

interface Spread {
  p50: number;
  p99: number;
  max: number;
}

export interface ProcessCost {
  pid: number;
  cpuSeconds: number;
  /** % of one core over the storm window. */
  cpuPercent: number;
  rssBeforeMiB: number;
  peakRssMiB: number;
}

export interface StormResult {
  system: string;
  mode: string;
  config: StormConfig;
  connections: { storm: number; survivors: number; publishers: number; connectSeconds: number };
  /** Milliseconds from the SIGKILL until the last storm client got there (undefined: not all did). */
  fromKillMs: { disconnected?: number; reconnected?: number; rejoined?: number; caughtUp?: number };
  resumed: number;
  notResumed: number;
  /** Per client, from losing its connection to caught up. */
  perClientResumeMs: Spread | undefined;
  /** Per client, from the SIGKILL to caught up. */
  perClientFromKillMs: Spread | undefined;
  attempts: number;
  failedAttempts: number;
  failedAttemptReasons: Record<string, number>;
  gaps: number;
  errors: number;
  errorsAfterJoined: number;
  droppedRooms: number;
  unexpectedCloses: number;
  errorExamples: string[];
  /** Storm clients: every message of their room after their first join, checked after publishing stopped. */
  storm: SequenceCheck;
  survivors: SequenceCheck;
  published: { sent: number; acked: number; publishErrors: number; ackedButSeenByNoSurvivor: number; perSecond: number };
  /** Survivors' publish → delivery; and publish → ack at the publishers. */
  latency: { before: LatencySummary | undefined; during: LatencySummary | undefined; duringWindowMs: number; ackBefore: LatencySummary | undefined; ackDuring: LatencySummary | undefined };
  /** CPU and memory from the SIGKILL until every client caught up (or the deadline). */
  resources: Record<string, ProcessCost>;
  /** Requests the brokers served over the same window (JetStream API requests, Redis commands). */
  brokerRequests: Record<string, number>;
}

const MINT_CHUNK = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowMicros = () => Number(process.hrtime.bigint() / 1000n);
const MiB = 2 ** 20;
const round1 = (n: number) => Math.round(n * 10) / 10;

/** Peak RSS (sampled every 100 ms) and CPU time of processes over a window. */
function watchProcesses(pids: Record<string, number>) {
  const started = performance.now();
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, sampleProc(pid)]));
  const peak = Object.fromEntries(Object.entries(before).map(([name, s]) => [name, s.rssBytes]));
  const timer = setInterval(() => {
    for (const [name, pid] of Object.entries(pids)) peak[name] = Math.max(peak[name]!, sampleProc(pid).rssBytes);
  }, 100);
  return (): Record<string, ProcessCost> => {
    clearInterval(timer);
    const seconds = (performance.now() - started) / 1000;
    return Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => {
        const after = sampleProc(pid);
        const cpuSeconds = Math.max(0, after.cpuSeconds - before[name]!.cpuSeconds);
        const cost: ProcessCost = { pid, cpuSeconds: Math.round(cpuSeconds * 100) / 100, cpuPercent: Math.round((cpuSeconds / seconds) * 100), rssBeforeMiB: round1(before[name]!.rssBytes / MiB), peakRssMiB: round1(Math.max(peak[name]!, after.rssBytes) / MiB) };
        return [name, cost];
      }),
    );
  };
}

function spread(values: number[]): Spread | undefined {
  if (values.length === 0) return undefined;
  return { p50: Math.round(percentile(values, 0.5)!), p99: Math.round(percentile(values, 0.99)!), max: Math.round(Math.max(...values)) };
}

function sumProgress(all: StormProgress[]): StormProgress {
  const total: StormProgress = { clients: 0, ready: 0, disconnected: 0, welcomed: 0, joined: 0, caughtUp: 0, attempts: 0, failedAttempts: 0, failedAttemptReasons: {}, received: 0, gaps: 0, errors: 0, errorsAfterJoined: 0, droppedRooms: 0, unexpectedCloses: 0, errorExamples: [] };
  for (const p of all) {
    for (const key of ['clients', 'ready', 'disconnected', 'welcomed', 'joined', 'caughtUp', 'attempts', 'failedAttempts', 'received', 'gaps', 'errors', 'errorsAfterJoined', 'droppedRooms', 'unexpectedCloses'] as const) total[key] += p[key];
    for (const [reason, n] of Object.entries(p.failedAttemptReasons)) total.failedAttemptReasons[reason] = (total.failedAttemptReasons[reason] ?? 0) + n;
    total.errorExamples = [...total.errorExamples, ...p.errorExamples].slice(0, 5);
  }
  return total;
}

/**
 * The reconnect storm on a running system: storm clients on node 0, survivors and publishers on
 * the others, publishing throughout; node 0 is SIGKILLed, its clients reconnect to the others with
 * jittered backoff and resume from the last position they saw. Measures the time until all are
 * back, connected, rejoined and caught up; then checks, once publishing stopped, that every client
 * has every message of its room exactly once and in order.
 */
export async function runStorm(system: StormSystem, config: StormConfig, log: (line: string) => void): Promise<StormResult> {
  const [killedPort, ...survivingPorts] = system.ports as [number, ...number[]];
  const rooms = Array.from({ length: config.rooms }, (_, i) => `room-${i}`);
  const stormUsers = Array.from({ length: config.clients }, (_, i) => `storm-${i}`);
  const survivorUsers = rooms.flatMap((_, r) => Array.from({ length: config.survivorsPerRoom }, (_, s) => `survivor-${r}-${s}`));
  const publisherUsers = Array.from({ length: config.publishers }, (_, i) => `publisher-${i}`);
  log(`${system.name}: minting ${stormUsers.length + survivorUsers.length + publisherUsers.length} tokens`);
  const users = [...stormUsers, ...survivorUsers, ...publisherUsers];
  const tokens: (string | undefined)[] = [];
  let lastMintLog = performance.now();
  for (let i = 0; i < users.length; i += MINT_CHUNK) {
    tokens.push(...(await system.tokens(users.slice(i, i + MINT_CHUNK))));
    if (performance.now() - lastMintLog >= config.progressEveryMs && tokens.length < users.length) {
      lastMintLog = performance.now();
      log(`${system.name}:   ${tokens.length.toLocaleString('en-US')} of ${users.length.toLocaleString('en-US')} tokens`);
    }
  }
  const token = (i: number) => tokens[i];

  const stormSpecs: StormClientSpec[] = stormUsers.map((user, i) => ({ role: 'storm', user, token: token(i), rooms: [rooms[i % rooms.length]!], port: killedPort, resumePorts: survivingPorts }));
  const survivorSpecs: StormClientSpec[] = survivorUsers.map((user, i) => ({
    role: 'survivor',
    user,
    token: token(stormUsers.length + i),
    rooms: [rooms[Math.floor(i / config.survivorsPerRoom)]!],
    port: survivingPorts[i % survivingPorts.length]!,
    resumePorts: [],
  }));
  const publisherSpecs: StormClientSpec[] = publisherUsers.map((user, i) => ({
    role: 'publisher',
    user,
    token: token(stormUsers.length + survivorUsers.length + i),
    rooms: rooms.filter((_, r) => r % config.publishers === i),
    port: survivingPorts[i % survivingPorts.length]!,
    resumePorts: [],
  }));

  const observer = new StormWorker();
  const stormWorkers = Array.from({ length: config.workers }, () => new StormWorker());
  const all = [observer, ...stormWorkers];
  const progressOf = async () => sumProgress((await Promise.all(stormWorkers.map((w) => w.ask({ type: 'progress' }, 'progress')))).map((r) => r.progress));
  const latency = async (reset: boolean) => {
    const reply = await observer.ask({ type: 'latency', reset }, 'latency');
    const delivery = new Uint32Array(HISTOGRAM_BUCKETS);
    const ack = new Uint32Array(HISTOGRAM_BUCKETS);
    addPairs(delivery, reply.pairs);
    addPairs(ack, reply.ackPairs);
    const exactMax = <T extends LatencySummary | undefined>(summary: T, maxMs: number) => (summary ? { ...summary, maxMs: Math.round(maxMs * 100) / 100 } : summary);
    return { delivery: exactMax(summarize(delivery), reply.maxDeliveryMs), ack: exactMax(summarize(ack), reply.maxAckMs) };
  };
  try {
    const connectStarted = performance.now();
    const observed = await observer.ask({ type: 'open', system: system.name, clients: [...survivorSpecs, ...publisherSpecs], concurrency: 16, backoffBaseMs: config.backoffBaseMs }, 'opened', 300_000);
    if (observed.failed) throw new Error(`${observed.failed} survivors or publishers could not join: ${observed.firstError}`);
    log(`${system.name}: ${survivorSpecs.length} survivors and ${publisherSpecs.length} publishers joined on nodes 2-${system.ports.length}; connecting ${config.clients} clients to node 1`);
    const shares: StormClientSpec[][] = stormWorkers.map(() => []);
    stormSpecs.forEach((spec, i) => shares[i % shares.length]!.push(spec));
    const opening = Promise.all(stormWorkers.map((w, i) => w.ask({ type: 'open', system: system.name, clients: shares[i]!, concurrency: 64, backoffBaseMs: config.backoffBaseMs }, 'opened', 600_000)));
    const connectProgress = setInterval(() => {
      void progressOf()
        .then((p) => log(`${system.name}:   ${p.ready.toLocaleString('en-US')} of ${config.clients.toLocaleString('en-US')} clients joined on node 1`))
        .catch(() => undefined);
    }, config.progressEveryMs * 2);
    const opened = await opening.finally(() => clearInterval(connectProgress));
    const failed = opened.reduce((s, r) => s + r.failed, 0);
    if (failed) throw new Error(`${failed} of ${config.clients} storm clients could not join: ${opened.find((r) => r.firstError)?.firstError}`);
    const connectSeconds = round1((performance.now() - connectStarted) / 1000);
    log(`${system.name}: ${config.clients} clients joined on node 1 in ${connectSeconds} s; publishing ${config.publishRate}/s over ${config.rooms} rooms`);

    await observer.ask({ type: 'publish', perPublisherPerSecond: config.publishRate / config.publishers }, 'publishing');
    await sleep(config.warmupMs);
    await latency(true);
    await sleep(config.beforeMs);
    const { delivery: before, ack: ackBefore } = await latency(true);
    log(`${system.name}: before the kill, survivors' delivery p50 ${before?.p50Ms ?? '-'} ms, p99 ${before?.p99Ms ?? '-'} ms (${before?.count ?? 0} samples)`);

    // Each room's target: the highest position any survivor had seen when the node died.
    const targets = (await observer.ask({ type: 'positions' }, 'positions')).highest;
    await Promise.all(stormWorkers.map((w) => w.ask({ type: 'arm', targets }, 'armed')));
    const watched: Record<string, number> = {};
    system.nodePids.slice(1).forEach((pid, i) => (watched[`node-${i + 2}`] = pid));
    for (const [name, pid] of Object.entries(system.brokers)) watched[name] = pid;
    all.forEach((w, i) => (watched[i === 0 ? 'generator-observer' : `generator-${i}`] = w.pid));
    const stopWatching = watchProcesses(watched);
    await latency(true);
    const countersBefore = await system.counters();
    const killAt = nowMicros();
    await system.killNode(0);
    log(`${system.name}: node 1 SIGKILLed`);

    let progress = await progressOf();
    let lastLog = performance.now();
    const deadline = performance.now() + config.deadlineMs;
    while (progress.caughtUp < config.clients && performance.now() < deadline) {
      await sleep(100);
      progress = await progressOf();
      if (performance.now() - lastLog >= config.progressEveryMs) {
        lastLog = performance.now();
        log(`${system.name}:   +${((nowMicros() - killAt) / 1e6).toFixed(1)} s: ${progress.disconnected} disconnected, ${progress.welcomed} reconnected, ${progress.joined} rejoined, ${progress.caughtUp} caught up (${progress.attempts} attempts, ${progress.failedAttempts} failed)`);
      }
    }
    const windowMs = (nowMicros() - killAt) / 1000;
    const resources = stopWatching();
    const countersAfter = await system.counters();
    const brokerRequests = Object.fromEntries(Object.entries(countersAfter).map(([name, n]) => [name, n - (countersBefore[name] ?? 0)]));
    const { delivery: during, ack: ackDuring } = await latency(true);
    log(`${system.name}: ${progress.caughtUp} of ${config.clients} caught up after ${(windowMs / 1000).toFixed(1)} s; survivors' delivery during the storm p50 ${during?.p50Ms ?? '-'} ms, p99 ${during?.p99Ms ?? '-'} ms`);

    await sleep(1000);
    await observer.ask({ type: 'stop-publish' }, 'stopped');
    // Settle: until nothing more arrives anywhere for a second (at most 30 s).
    const settleDeadline = performance.now() + 30_000;
    let last = -1;
    let stableSince = performance.now();
    while (performance.now() < settleDeadline) {
      const total = (await progressOf()).received + (await observer.ask({ type: 'progress' }, 'progress')).progress.received;
      if (total !== last) {
        last = total;
        stableSince = performance.now();
      } else if (performance.now() - stableSince >= 1000) break;
      await sleep(200);
    }
    // Acks of the last publishes arrived while settling.
    const stopped = await observer.ask({ type: 'stop-publish' }, 'stopped');
    const reference = (await observer.ask({ type: 'reference' }, 'reference')).seqs;
    const [survivors, ...stormChecks] = await Promise.all(all.map((w) => w.ask({ type: 'check', reference }, 'check')));
    const storm = mergeChecks(stormChecks.map((c) => c.check));
    const acked = Object.values(stopped.ackedPerRoom).reduce((s, n) => s + n, 0);
    const ackedButSeenByNoSurvivor = Object.entries(stopped.ackedPerRoom).reduce((s, [room, n]) => s + Math.max(0, n - (reference[room]?.length ?? 0)), 0);

    const times: ResumeTimes[] = (await Promise.all(stormWorkers.map((w) => w.ask({ type: 'times' }, 'times')))).flatMap((r) => r.times);
    const lastOf = (pick: (t: ResumeTimes) => number) => {
      const values = times.map(pick);
      return values.every((v) => v > 0) ? Math.round((Math.max(...values) - killAt) / 1000) : undefined;
    };
    const resumedTimes = times.filter((t) => t.caughtUpAt > 0);
    const final = await progressOf();
    const observerFinal = (await observer.ask({ type: 'progress' }, 'progress')).progress;
    return {
      system: system.name,
      mode: system.mode,
      config,
      connections: { storm: config.clients, survivors: survivorSpecs.length, publishers: publisherSpecs.length, connectSeconds },
      fromKillMs: { disconnected: lastOf((t) => t.disconnectAt), reconnected: lastOf((t) => t.welcomeAt), rejoined: lastOf((t) => t.joinedAt), caughtUp: lastOf((t) => t.caughtUpAt) },
      resumed: resumedTimes.length,
      notResumed: config.clients - resumedTimes.length,
      perClientResumeMs: spread(resumedTimes.map((t) => (t.caughtUpAt - t.disconnectAt) / 1000)),
      perClientFromKillMs: spread(resumedTimes.map((t) => (t.caughtUpAt - killAt) / 1000)),
      attempts: final.attempts,
      failedAttempts: final.failedAttempts,
      failedAttemptReasons: final.failedAttemptReasons,
      gaps: final.gaps,
      errorsAfterJoined: final.errorsAfterJoined,
      droppedRooms: final.droppedRooms,
      errors: final.errors + observerFinal.errors,
      unexpectedCloses: final.unexpectedCloses + observerFinal.unexpectedCloses,
      errorExamples: [...final.errorExamples, ...observerFinal.errorExamples].slice(0, 8),
      storm,
      survivors: survivors!.check,
      published: { sent: stopped.sent, acked, publishErrors: stopped.publishErrors, ackedButSeenByNoSurvivor, perSecond: config.publishRate },
      latency: { before, during, duringWindowMs: Math.round(windowMs), ackBefore, ackDuring },
      resources,
      brokerRequests,
    };
  } finally {
    await Promise.allSettled(all.map((w) => w.close()));
  }
}

import { connectClient, type TestClient, type TestClientFrame } from '@parley/testkit';
import { startCluster, type Cluster } from './cluster.ts';
import { mintUserToken, wsUrl } from './clients.ts';
import type { ServiceProcess } from './service-process.ts';

export interface SoakOptions {
  /** How long faults are injected under traffic. */
  durationMs: number;
  /** Keep injecting past `durationMs` until this many faults happened. @default 0 */
  minFaults?: number;
  /** @default 4000: one fault starts this long after the previous one ended. */
  faultEveryMs?: number;
  /** @default 12 */
  clients?: number;
  /** @default 3 */
  rooms?: number;
  /** @default 150: each client publishes this often. */
  publishEveryMs?: number;
  /** @default 15000: a client must be connected and resumed again this soon after losing its connection. */
  resumeBoundMs?: number;
  /** @default Math.random; faults are drawn from a bag holding each kind once, refilled when empty. */
  random?: () => number;
  log?: (line: string) => void;
}

export interface SoakReport {
  faults: string[];
  published: number;
  acknowledged: number;
  stored: number;
  reconnects: number;
  maxResumeMs: number;
  /** Empty when every check held. */
  problems: string[];
}

const TTL_MS = 3000;
const NS = 'soak';

interface Acked {
  user: string;
  i: number;
  seq: number;
}

/** One user: one connection at a time, in one room, publishing `{user, i}` and resuming with `since` after every loss. */
class SoakClient {
  readonly user: string;
  readonly room: string;
  client: TestClient | undefined;
  joined = false;
  /** Every `seq` received, over all connections, in arrival order. */
  readonly received: number[] = [];
  start: number | undefined;
  readonly acked: Acked[] = [];
  readonly resumeMs: number[] = [];
  sent = 0;
  pending = 0;
  private lostAt: number | undefined;
  private stopped = false;
  private readonly pickGateway: () => ServiceProcess;
  private readonly token: () => Promise<string>;

  constructor(user: string, room: string, pickGateway: () => ServiceProcess, token: () => Promise<string>) {
    this.user = user;
    this.room = room;
    this.pickGateway = pickGateway;
    this.token = token;
  }

  get last() {
    return this.received.length > 0 ? Math.max(this.start ?? 0, this.received[this.received.length - 1] as number) : this.start;
  }

  /** Connects (retrying every 200 ms) and joins, with `since` once it has a position. */
  async connect(): Promise<void> {
    while (!this.stopped) {
      try {
        const client = await connectClient(wsUrl(this.pickGateway()), { token: await this.token() });
        const welcome = await client.waitFor((f) => f.type === 'welcome' || f.type === 'error', 5000);
        if (welcome.type !== 'welcome') throw new Error(`refused: ${JSON.stringify(welcome)}`);
        client.ws.on('message', (data) => this.frame(JSON.parse(data.toString()) as TestClientFrame));
        const since = this.last;
        const joined = await client.request({ type: 'join', room: this.room, ...(since !== undefined && { since }) }, 10_000);
        if (joined.type !== 'joined') throw Object.assign(new Error(`join refused: ${JSON.stringify(joined)}`), { client });
        this.start ??= joined.seq as number;
        this.client = client;
        this.joined = true;
        if (this.lostAt !== undefined) this.resumeMs.push(Date.now() - this.lostAt);
        this.lostAt = undefined;
        void client.closed.then(() => {
          if (this.client !== client) return;
          this.client = undefined;
          this.joined = false;
          this.pending = 0;
          this.lostAt = Date.now();
          if (!this.stopped) void this.connect();
        });
        return;
      } catch (error) {
        (error as { client?: TestClient }).client?.ws.terminate();
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  private frame(f: TestClientFrame) {
    if (f.type === 'message' && f.room === this.room && typeof f.seq === 'number') this.received.push(f.seq);
    else if (f.type === 'ack' && typeof f.id === 'string' && f.id.startsWith('p:')) {
      this.pending--;
      this.acked.push({ user: this.user, i: Number(f.id.slice(2)), seq: f.seq as number });
    } else if (f.type === 'error' && typeof f.id === 'string' && f.id.startsWith('p:')) this.pending--;
  }

  publish() {
    if (!this.joined || !this.client || this.pending > 20) return;
    const i = this.sent++;
    this.pending++;
    this.client.send({ type: 'publish', id: `p:${i}`, room: this.room, data: { user: this.user, i } });
  }

  async stop() {
    this.stopped = true;
    await this.client?.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/**
 * Kills, freezes and restarts one random component at a time under traffic on a local cluster
 * (three gateways, JetStream history, Redis presence, auth), then checks what Parley promises:
 * nothing acknowledged lost, nothing stored twice, each publisher's messages stored in its order,
 * every client's messages complete and in order after its resumes, presence converged, and every
 * client resumed within `resumeBoundMs` of losing its connection.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const random = options.random ?? Math.random;
  const log = options.log ?? (() => {});
  const resumeBoundMs = options.resumeBoundMs ?? 15_000;
  const cluster: Cluster = await startCluster({
    gateways: 3,
    jetstream: true,
    env: { PARLEY_LOG_LEVEL: 'warn', PARLEY_DRAIN_MS: '500', PARLEY_PRESENCE_TTL_MS: String(TTL_MS), PARLEY_PRESENCE_SWEEP_MS: '500' },
  });
  const faults: string[] = [];
  const problems: string[] = [];
  const clients: SoakClient[] = [];
  let publisher: NodeJS.Timeout | undefined;
  try {
    const admin = { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/json' };
    const created = await fetch(`${cluster.auth.url}/v1/admin/tenants`, { method: 'POST', headers: admin, body: JSON.stringify({ ns: NS, settings: { history: { enabled: true, maxMessagesPerRoom: 100_000 }, messagesPerSecond: 100, burst: 200 } }) });
    if (!created.ok) throw new Error(`tenant: ${created.status} ${await created.text()}`);
    const { key } = (await (await fetch(`${cluster.auth.url}/v1/admin/tenants/${NS}/keys`, { method: 'POST', headers: admin })).json()) as { key: string };
    const running = () => cluster.gateways.filter((g) => g.running);
    const pickGateway = () => {
      const up = running();
      return up[Math.floor(random() * up.length)] ?? (cluster.gateways[0] as ServiceProcess);
    };
    const rooms = options.rooms ?? 3;
    for (let c = 0; c < (options.clients ?? 12); c++) {
      const user = `u${c}`;
      // Minted once: a client reconnecting while auth is down still has its token.
      let token: Promise<string> | undefined;
      const mint = () => (token ??= mintUserToken({ ...cluster, demoApiKey: key }, user, { ttlSeconds: 3600 }).catch((error: unknown) => {
        token = undefined;
        throw error;
      }));
      clients.push(new SoakClient(user, `room-${c % rooms}`, pickGateway, mint));
    }
    await Promise.all(clients.map((c) => c.connect()));
    publisher = setInterval(() => clients.forEach((c) => c.publish()), options.publishEveryMs ?? 150);

    const restartable = async (p: ServiceProcess, signal: NodeJS.Signals) => {
      await p.stop(signal, 5000);
      await sleep(500);
      await p.start(30_000);
    };
    const kinds: Array<[string, () => Promise<void>]> = [
      ['gateway SIGKILL', async () => restartable(pickGateway(), 'SIGKILL')],
      ['gateway SIGTERM', async () => restartable(pickGateway(), 'SIGTERM')],
      ['gateway frozen past the presence TTL', async () => {
        const g = pickGateway();
        g.freeze();
        await sleep(TTL_MS * 2);
        g.thaw();
      }],
      ['NATS SIGKILL and restart', async () => cluster.nats.restart()],
      ['presence Redis SIGKILL and restart (empty)', async () => cluster.redis.restart()],
      ['auth SIGKILL and restart', async () => restartable(cluster.auth, 'SIGKILL')],
      ['presence service SIGKILL and restart', async () => restartable(cluster.presence, 'SIGKILL')],
    ];
    const end = Date.now() + options.durationMs;
    // Every kind once in a random order, then again: a short run still sees each of them.
    let bag: Array<[string, () => Promise<void>]> = [];
    while (Date.now() < end || faults.length < (options.minFaults ?? 0)) {
      await sleep(options.faultEveryMs ?? 4000);
      if (bag.length === 0) bag = [...kinds].sort(() => random() - 0.5);
      const [name, inject] = bag.pop() as [string, () => Promise<void>];
      log(`fault: ${name}`);
      faults.push(name);
      await inject();
    }

    log('faults over; waiting for every client to resume');
    if (!(await until(() => clients.every((c) => c.joined), resumeBoundMs + 5000))) problems.push(`not every client resumed: ${clients.filter((c) => !c.joined).map((c) => c.user).join(', ')}`);
    await sleep(1000);
    clearInterval(publisher);
    publisher = undefined;
    await until(() => clients.every((c) => c.pending <= 0 || !c.joined), 15_000);

    // The truth: each room's stored log, read back by an auditor (retention keeps all of it: 100,000 per room).
    const auditor = await connectClient(wsUrl(pickGateway()), { token: await mintUserToken({ ...cluster, demoApiKey: key }, 'auditor') });
    await auditor.waitFor('welcome');
    const stored = new Map<string, Array<{ seq: number; user: string; i: number }>>();
    for (let r = 0; r < rooms; r++) {
      const room = `room-${r}`;
      const log: Array<{ seq: number; user: string; i: number }> = [];
      for (let after = 0, more = true; more; ) {
        const page = await auditor.request({ type: 'history', room, after, limit: 1000 }, 15_000);
        if (page.type !== 'history') throw new Error(`history read: ${JSON.stringify(page)}`);
        for (const m of page.messages as Array<{ seq: number; data: { user: string; i: number } }>) log.push({ seq: m.seq, user: m.data.user, i: m.data.i });
        after = (page.last as number | undefined) ?? after;
        more = page.more === true;
      }
      stored.set(room, log);
    }
    await auditor.close();

    const everything = [...stored.values()].flat();
    const storedKeys = new Map<string, number>();
    for (const m of everything) storedKeys.set(`${m.user}:${m.i}`, (storedKeys.get(`${m.user}:${m.i}`) ?? 0) + 1);
    const duplicates = [...storedKeys].filter(([, n]) => n > 1).map(([k]) => k);
    if (duplicates.length > 0) problems.push(`stored twice: ${duplicates.slice(0, 10).join(', ')}`);
    for (const c of clients) {
      const log = stored.get(c.room) ?? [];
      const bySeq = new Map(log.map((m) => [m.seq, m]));
      const lost = c.acked.filter((a) => bySeq.get(a.seq)?.user !== c.user || bySeq.get(a.seq)?.i !== a.i);
      if (lost.length > 0) problems.push(`${c.user}: ${lost.length} acknowledged messages not stored as acknowledged (first: ${JSON.stringify(lost[0])})`);
      const mine = log.filter((m) => m.user === c.user).map((m) => m.i);
      if (mine.some((v, k) => k > 0 && v < (mine[k - 1] as number))) problems.push(`${c.user}: stored out of publish order`);
      const expected = log.filter((m) => m.seq > (c.start ?? 0)).map((m) => m.seq);
      const got = c.received;
      if (new Set(got).size !== got.length) problems.push(`${c.user}: received a message twice`);
      if (got.some((v, k) => k > 0 && v <= (got[k - 1] as number))) problems.push(`${c.user}: received out of order`);
      const missing = expected.filter((s) => !got.includes(s));
      if (missing.length > 0) problems.push(`${c.user}: ${missing.length} stored messages never received (first seq ${missing[0]})`);
      const slow = c.resumeMs.filter((ms) => ms > resumeBoundMs);
      if (slow.length > 0) problems.push(`${c.user}: resumed after ${Math.max(...slow)} ms (bound ${resumeBoundMs})`);
    }

    // Presence: every client is listed in its room, and nobody else.
    const converged = await until(async () => {
      for (let r = 0; r < rooms; r++) {
        const res = await fetch(`${cluster.presence.url}/v1/rooms/room-${r}/members`, { headers: { authorization: `Bearer ${key}` } }).catch(() => undefined);
        if (!res?.ok) return false;
        const members = ((await res.json()) as { members: Array<{ user: string }> }).members.map((m) => m.user).sort().join();
        const want = clients.filter((c) => c.room === `room-${r}`).map((c) => c.user).sort().join();
        if (members !== want) return false;
      }
      return true;
    }, TTL_MS * 3 + 5000);
    if (!converged) problems.push('presence did not converge to the connected clients');

    const resumes = clients.flatMap((c) => c.resumeMs);
    return {
      faults,
      published: clients.reduce((n, c) => n + c.sent, 0),
      acknowledged: clients.reduce((n, c) => n + c.acked.length, 0),
      stored: everything.length,
      reconnects: resumes.length,
      maxResumeMs: resumes.length > 0 ? Math.max(...resumes) : 0,
      problems,
    };
  } finally {
    if (publisher) clearInterval(publisher);
    await Promise.allSettled(clients.map((c) => c.stop()));
    for (const g of cluster.gateways) g.thaw();
    await cluster.stop();
  }
}

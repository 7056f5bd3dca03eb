// One load-generator process (forked by the benchmark, driven over IPC). It opens lean
// WebSocket connections, joins each to its room, publishes (closed loop with a window, or at a
// fixed rate), counts every room message per connection, and samples latency from the
// publisher's monotonic timestamp in the payload (CLOCK_MONOTONIC is shared by processes).
import { LeanSocket } from './lean-ws.ts';
import { PROTOCOLS, benchPayload, payloadPadding, readTimestamp, type ConnState, type SystemName } from './protocols.ts';
import { createHistogram, record, toPairs } from './latency-histogram.ts';
import type { WorkerReply, WorkerRequest } from './worker-messages.ts';

interface Conn extends ConnState {
  socket: LeanSocket;
  publisher: boolean;
  sampled: boolean;
  received: number;
  closedWith: number | undefined;
  /** Publisher: messages sent, and sent but not yet seen back (its own echo). */
  sent: number;
  inflight: number;
}

const conns: Conn[] = [];
const publishers: Conn[] = [];
let system: SystemName = 'parley';
let received = 0;
let errors = 0;
let histogram = createHistogram();
let window = 0;
let publishing = false;
let rateTimer: NodeJS.Timeout | undefined;

const nowMicros = () => Number(process.hrtime.bigint() / 1000n);
let padding = '';
const payload = (conn: Conn) => benchPayload(nowMicros(), conn.sent, padding);

function send(reply: WorkerReply) {
  process.send!(reply);
}

function publishOne(conn: Conn) {
  conn.socket.send(PROTOCOLS[system].publish(conn.room, payload(conn), conn));
  conn.sent++;
  conn.inflight++;
}

function open(spec: { port: number; room: string; token?: string; publisher: boolean; sampled: boolean }): Promise<Conn> {
  const protocol = PROTOCOLS[system];
  return new Promise((resolve, reject) => {
    let settled = false;
    let lastFrame = '';
    const conn = {
      room: spec.room,
      token: spec.token,
      ready: false,
      nextId: 3,
      publisher: spec.publisher,
      sampled: spec.sampled,
      received: 0,
      closedWith: undefined,
      sent: 0,
      inflight: 0,
      onReady() {
        if (conn.ready) return;
        conn.ready = true;
        settled = true;
        resolve(conn);
      },
      onError() {
        errors++;
      },
    } as unknown as Conn;
    conn.socket = new LeanSocket(
      { port: spec.port, path: protocol.path, headers: protocol.headers(spec.token) },
      {
        open: (socket) => protocol.open(socket, conn),
        text: (buf, start, end, socket) => {
          if (!conn.ready) lastFrame = buf.toString('utf8', start, Math.min(end, start + 300));
          const n = protocol.frame(buf, start, end, socket, conn);
          if (n === 0) return;
          conn.received += n;
          received += n;
          // Latency is reported for paced publishing only: in the closed loop, where the
          // generator's CPU bounds the peak, it samples nothing.
          if (conn.sampled && window === 0) {
            const t = readTimestamp(buf, start, end);
            if (t > 0) record(histogram, nowMicros() - t);
          }
          if (conn.publisher) {
            // Counted back even after a stop, so that the next closed-loop round starts from 0.
            conn.inflight = Math.max(0, conn.inflight - n);
            if (publishing && window > 0) while (conn.inflight < window) publishOne(conn);
          }
        },
        close: (code) => {
          conn.closedWith = code;
          if (!settled) {
            settled = true;
            reject(new Error(`connection closed before joining (${code}${conn.socket.error ? `, ${conn.socket.error}` : ''}, upgraded: ${conn.socket.wasUpgraded}; last frame: ${lastFrame || 'none'}; pending ${conn.socket.pendingBytes}; closed ${Math.round(performance.now() - conn.socket.createdAt)} ms after connecting, ${Math.round(performance.now() - conn.socket.lastDataAt)} ms after the last data)`));
          }
        },
      },
    );
  });
}

async function connectAll(specs: Parameters<typeof open>[0][], concurrency: number) {
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const lane = async () => {
    while (next < specs.length) {
      const spec = specs[next++]!;
      try {
        const conn = await open(spec);
        conns.push(conn);
        if (conn.publisher) publishers.push(conn);
      } catch (error) {
        failed++;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, specs.length) }, lane));
  return { failed, firstError };
}

function startRate(perPublisherPerSecond: number) {
  const started = performance.now();
  const base = publishers.map((p) => p.sent);
  // A random phase per publisher: in lockstep, every room's message would leave in the same
  // tick and each burst would queue behind the others (rooms × members deliveries at once).
  const phase = publishers.map(() => Math.random());
  rateTimer = setInterval(() => {
    const elapsed = ((performance.now() - started) / 1000) * perPublisherPerSecond;
    publishers.forEach((p, i) => {
      if (p.closedWith !== undefined) return;
      const due = Math.floor(elapsed + phase[i]!);
      if (p.sent - base[i]! >= due) return;
      p.socket.socket.cork();
      while (p.sent - base[i]! < due) publishOne(p);
      p.socket.socket.uncork();
    });
  }, 1);
}

process.on('message', async (request: WorkerRequest) => {
  switch (request.type) {
    case 'connect': {
      system = request.system;
      padding = payloadPadding(request.payloadBytes ?? 0);
      const started = Date.now();
      const { failed, firstError } = await connectAll(request.conns, request.concurrency);
      send({ type: 'connected', ok: request.conns.length - failed, failed, ms: Date.now() - started, ...(firstError && { firstError }) });
      break;
    }
    case 'publish': {
      publishing = true;
      if (request.mode === 'window') {
        window = request.window;
        for (const p of publishers) {
          p.socket.socket.cork();
          while (p.inflight < window) publishOne(p);
          p.socket.socket.uncork();
        }
      } else {
        window = 0;
        startRate(request.perPublisherPerSecond);
      }
      send({ type: 'publishing' });
      break;
    }
    case 'stop-publish': {
      publishing = false;
      window = 0;
      clearInterval(rateTimer);
      const sent: Record<string, number> = {};
      for (const p of publishers) sent[p.room] = (sent[p.room] ?? 0) + p.sent;
      send({ type: 'stopped', sent });
      break;
    }
    case 'stats': {
      const closes: Record<string, number> = {};
      for (const c of conns) if (c.closedWith !== undefined) closes[c.closedWith] = (closes[c.closedWith] ?? 0) + 1;
      send({ type: 'stats', received, errors, closes, latency: toPairs(histogram) });
      if (request.reset) {
        histogram = createHistogram();
      }
      break;
    }
    case 'final': {
      // Every connection should have received every message published to its room.
      let silentMissing = 0;
      let accountedMissing = 0;
      let extra = 0;
      let closedConns = 0;
      for (const c of conns) {
        const expected = request.sent[c.room] ?? 0;
        const missing = expected - c.received;
        if (missing < 0) extra += -missing;
        else if (c.closedWith !== undefined) {
          closedConns++;
          accountedMissing += missing;
        } else silentMissing += missing;
      }
      send({ type: 'final', silentMissing, accountedMissing, extra, closedConns });
      break;
    }
    case 'close-all': {
      for (const c of conns) c.socket.destroy();
      send({ type: 'closed' });
      setTimeout(() => process.exit(0), 50);
      break;
    }
  }
});

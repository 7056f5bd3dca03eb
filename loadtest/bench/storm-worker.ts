// One process of the reconnect storm's load generator (forked by storm-run.ts, driven over IPC).
// It holds lean WebSocket clients of one or more roles: storm clients that reconnect with the
// client SDK's jittered backoff when their node dies and rejoin from the last position they saw;
// survivors that record delivery latency; publishers that publish at a paced rate.
import { backoffDelay } from '@parley/client';
import { LeanSocket } from './lean-ws.ts';
import { createHistogram, record, toPairs } from './latency-histogram.ts';
import { benchPayload } from './protocols.ts';
import { STORM_CODECS, type StormCodec, type StormEvents, type StreamPosition } from './storm-codecs.ts';
import { checkSequence } from './storm-check.ts';
import type { ResumeTimes, StormClientSpec, StormProgress, StormReply, StormRequest } from './storm-messages.ts';

/** Like the client SDK: a connection attempt without `welcome` after this long is given up. */
const WELCOME_TIMEOUT_MS = 10_000;
const MAX_ERROR_EXAMPLES = 5;
/** The client SDK's delay before it sends a refused join again (temporary errors). */
const JOIN_RETRY_MS = 1000;

const nowMicros = () => Number(process.hrtime.bigint() / 1000n);

class StormClient implements StormEvents {
  readonly spec: StormClientSpec;
  readonly index: number;
  socket: LeanSocket | undefined;
  private welcomeTimer: NodeJS.Timeout | undefined;
  private nextId = 1;
  private pendingJoins = new Map<number, string>();
  /** Joins already answered with `joined`: an error for one of them comes too late for the client SDK, which has settled the request. */
  private readonly answeredJoins = new Set<number>();
  private joinedRooms = 0;
  private onReady: ((error?: Error) => void) | undefined;
  private lastFrame = '';
  private timedOut = false;
  /** Position at the first join; everything after it must arrive. */
  joinSeq = -1;
  lastSeq = 0;
  epoch: string | undefined;
  readonly seqs: number[] = [];
  /** Storm clients, after the kill. */
  resuming = false;
  attempt = 0;
  times: ResumeTimes = { disconnectAt: 0, welcomeAt: 0, joinedAt: 0, caughtUpAt: 0, attempts: 0 };
  /** Publishers. */
  sent = 0;
  nextRoom = 0;
  readonly publishRooms = new Map<number, { room: string; sentAt: number }>();

  constructor(spec: StormClientSpec, index: number) {
    this.spec = spec;
    this.index = index;
  }

  connect(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.onReady = (error) => (error ? reject(error) : resolve());
      this.joinedRooms = 0;
      this.pendingJoins.clear();
      const socket = new LeanSocket(
        { port, path: codec.path, headers: codec.headers(this.spec.token) },
        {
          open: (s) => codec.open(s, this.spec.token),
          text: (buf, start, end, s) => {
            if (s !== this.socket) return;
            if (this.joinedRooms < this.spec.rooms.length) this.lastFrame = buf.toString('utf8', start, Math.min(end, start + 200));
            codec.frame(buf, start, end, s, this);
          },
          close: (code, s) => {
            if (s === this.socket) this.closed(code);
          },
        },
      );
      this.socket = socket;
      this.welcomeTimer = setTimeout(() => {
        if (this.socket !== socket) return;
        this.timedOut = true;
        socket.destroy();
      }, WELCOME_TIMEOUT_MS);
    });
  }

  private settle(error?: Error) {
    const done = this.onReady;
    this.onReady = undefined;
    done?.(error);
  }

  welcome() {
    clearTimeout(this.welcomeTimer);
    if (this.resuming) {
      this.times.welcomeAt = nowMicros();
      this.attempt = 0;
    }
    for (const room of this.spec.rooms) this.sendJoin(room);
  }

  private sendJoin(room: string, resume = this.resuming) {
    const resumeFrom: StreamPosition | undefined = resume ? { seq: this.lastSeq, ...(this.epoch !== undefined && { epoch: this.epoch }) } : undefined;
    const id = this.nextId++;
    this.pendingJoins.set(id, room);
    this.socket!.send(codec.join(room, id, resumeFrom));
  }

  joined(requestId: number | undefined, position: StreamPosition, recovered: boolean | undefined) {
    if (requestId !== undefined && this.pendingJoins.delete(requestId)) this.answeredJoins.add(requestId);
    if (this.joinSeq < 0) {
      this.joinSeq = position.seq;
      this.lastSeq = Math.max(this.lastSeq, position.seq);
      this.epoch = position.epoch;
    }
    if (this.resuming) {
      if (recovered === false || (position.epoch !== undefined && position.epoch !== this.epoch)) gap(`${this.spec.user}: resumed from ${this.lastSeq} without recovery (epoch ${position.epoch})`);
      this.times.joinedAt = nowMicros();
      this.checkCaughtUp();
    }
    if (++this.joinedRooms === this.spec.rooms.length) this.settle();
  }

  message(seq: number, sentAtMicros: number) {
    received++;
    if (this.spec.role === 'publisher') return;
    this.seqs.push(seq);
    if (seq > this.lastSeq) this.lastSeq = seq;
    if (this.spec.role === 'survivor') {
      if (sentAtMicros > 0) {
        const micros = nowMicros() - sentAtMicros;
        record(histogram, micros);
        if (micros > maxDeliveryMicros) maxDeliveryMicros = micros;
      }
      const room = this.spec.rooms[0]!;
      if (seq > (highestSeen.get(room) ?? 0)) highestSeen.set(room, seq);
    } else if (this.resuming && this.times.joinedAt && !this.times.caughtUpAt) this.checkCaughtUp();
  }

  ack(requestId: number | undefined) {
    const publish = requestId === undefined ? undefined : this.publishRooms.get(requestId);
    if (publish === undefined) return;
    this.publishRooms.delete(requestId!);
    ackedPerRoom[publish.room] = (ackedPerRoom[publish.room] ?? 0) + 1;
    const micros = nowMicros() - publish.sentAt;
    record(ackHistogram, micros);
    if (micros > maxAckMicros) maxAckMicros = micros;
  }

  error(requestId: number | undefined, code: string) {
    if (requestId !== undefined && this.publishRooms.delete(requestId)) publishErrors++;
    if (code.startsWith('history_gap')) return gap(`${this.spec.user}: ${code}`);
    errors++;
    if (requestId === undefined && code.startsWith('history_unavailable') && this.joinSeq >= 0) {
      // The gateway dropped the room after `joined` (docs/protocol.md, "Availability"): like the
      // client SDK, join again a second later with since = the last seq received.
      droppedRooms++;
      const socket = this.socket;
      setTimeout(() => {
        if (this.socket === socket && socket?.open) for (const room of this.spec.rooms) this.sendJoin(room, true);
      }, JOIN_RETRY_MS);
      return;
    }
    if (requestId !== undefined && this.answeredJoins.has(requestId)) {
      // The client SDK ignores it (its join request was settled by `joined`): so does the storm.
      errorsAfterJoined++;
      if (errorExamples.length < MAX_ERROR_EXAMPLES) errorExamples.push(`${this.spec.role} ${this.spec.user}: ${code} for a join already answered with joined`);
      return;
    }
    if (errorExamples.length < MAX_ERROR_EXAMPLES) errorExamples.push(`${this.spec.role} ${this.spec.user}: ${code}`);
    const room = requestId === undefined ? undefined : this.pendingJoins.get(requestId);
    if (room === undefined) return;
    // Like the client SDK: a refused join is sent again a second later on the same connection.
    this.pendingJoins.delete(requestId!);
    const socket = this.socket;
    setTimeout(() => {
      if (this.socket === socket && socket?.open) this.sendJoin(room);
    }, JOIN_RETRY_MS);
  }

  private checkCaughtUp() {
    if (this.lastSeq >= (targets.get(this.spec.rooms[0]!) ?? 0)) this.times.caughtUpAt = nowMicros();
  }

  private closed(code: number) {
    clearTimeout(this.welcomeTimer);
    this.socket = undefined;
    this.settle(new Error(`closed before joining (${code}); last frame: ${this.lastFrame || 'none'}`));
    if (closing) return;
    if (this.spec.role !== 'storm' || !armed) {
      unexpectedCloses++;
      if (errorExamples.length < MAX_ERROR_EXAMPLES) errorExamples.push(`${this.spec.role} ${this.spec.user} closed (${code})${armed ? '' : ' before the kill'}`);
      return;
    }
    if (!this.resuming) {
      this.resuming = true;
      this.times.disconnectAt = nowMicros();
    } else {
      failedAttempts++;
      const reason = this.timedOut ? 'no welcome within 10 s' : `close ${code}${this.times.welcomeAt ? ' after welcome' : ''}`;
      failedAttemptReasons[reason] = (failedAttemptReasons[reason] ?? 0) + 1;
    }
    this.timedOut = false;
    this.times.welcomeAt = this.times.joinedAt = this.times.caughtUpAt = 0;
    const delay = backoffDelay(this.attempt++, { baseMs: backoffBaseMs });
    const ports = this.spec.resumePorts;
    const port = ports[(this.index + this.times.attempts) % ports.length]!;
    setTimeout(() => {
      this.times.attempts++;
      this.connect(port).catch(() => {});
    }, delay);
  }

  publishOne() {
    const room = this.spec.rooms[this.nextRoom++ % this.spec.rooms.length]!;
    const id = this.nextId++;
    const sentAt = nowMicros();
    this.publishRooms.set(id, { room, sentAt });
    this.socket?.send(codec.publish(room, benchPayload(sentAt, this.sent++), id));
  }
}

let codec: StormCodec = STORM_CODECS.parley;
let backoffBaseMs = 500;
const clients: StormClient[] = [];
const targets = new Map<string, number>();
const highestSeen = new Map<string, number>();
let histogram = createHistogram();
/** Publish → ack (Parley acks once stored; Centrifugo once published to its engine). */
let ackHistogram = createHistogram();
/** Exact maxima: the histograms stop at 10 s. */
let maxDeliveryMicros = 0;
let maxAckMicros = 0;
let errorsAfterJoined = 0;
/** Rooms the gateway dropped after `joined` (an error for the room without request id), joined again. */
let droppedRooms = 0;
const failedAttemptReasons: Record<string, number> = {};
let armed = false;
let closing = false;
let received = 0;
let errors = 0;
let gaps = 0;
let unexpectedCloses = 0;
let failedAttempts = 0;
let publishErrors = 0;
const errorExamples: string[] = [];
let ackedPerRoom: Record<string, number> = {};
let publishTimer: NodeJS.Timeout | undefined;

function gap(example: string) {
  gaps++;
  if (errorExamples.length < MAX_ERROR_EXAMPLES) errorExamples.push(example);
}

async function openAll(specs: StormClientSpec[], concurrency: number) {
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const lane = async () => {
    while (next < specs.length) {
      const client = new StormClient(specs[next++]!, clients.length);
      clients.push(client);
      try {
        await client.connect(client.spec.port);
      } catch (error) {
        failed++;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, specs.length) }, lane));
  return { ok: specs.length - failed, failed, ...(firstError && { firstError }) };
}

/** Paced publishing with a random phase per publisher (in lockstep, every room's burst would leave in the same tick). */
function startPublishing(perPublisherPerSecond: number) {
  const publishers = clients.filter((c) => c.spec.role === 'publisher');
  const started = performance.now();
  const base = publishers.map((p) => p.sent);
  const phase = publishers.map(() => Math.random());
  publishTimer = setInterval(() => {
    const elapsed = ((performance.now() - started) / 1000) * perPublisherPerSecond;
    publishers.forEach((p, i) => {
      if (!p.socket) return;
      const due = Math.floor(elapsed + phase[i]!);
      if (p.sent - base[i]! >= due) return;
      p.socket.socket.cork();
      while (p.sent - base[i]! < due) p.publishOne();
      p.socket.socket.uncork();
    });
  }, 2);
}

function progress(): StormProgress {
  const p: StormProgress = { clients: 0, ready: 0, disconnected: 0, welcomed: 0, joined: 0, caughtUp: 0, attempts: 0, failedAttempts, failedAttemptReasons, received, gaps, errors, errorsAfterJoined, droppedRooms, unexpectedCloses, errorExamples };
  for (const c of clients) {
    if (c.spec.role !== 'storm') continue;
    p.clients++;
    if (c.joinSeq >= 0) p.ready++;
    if (c.times.disconnectAt) p.disconnected++;
    if (c.times.welcomeAt) p.welcomed++;
    if (c.times.joinedAt) p.joined++;
    if (c.times.caughtUpAt) p.caughtUp++;
    p.attempts += c.times.attempts;
  }
  return p;
}

/** Per room, every seq the survivors saw (sorted, once). */
function reference(): Record<string, number[]> {
  const sets = new Map<string, Set<number>>();
  for (const c of clients) {
    if (c.spec.role !== 'survivor') continue;
    const room = c.spec.rooms[0]!;
    let set = sets.get(room);
    if (!set) sets.set(room, (set = new Set()));
    for (const s of c.seqs) set.add(s);
  }
  return Object.fromEntries([...sets].map(([room, set]) => [room, [...set].sort((a, b) => a - b)]));
}

function send(reply: StormReply) {
  process.send!(reply);
}

process.on('message', async (request: StormRequest) => {
  switch (request.type) {
    case 'open':
      codec = STORM_CODECS[request.system];
      backoffBaseMs = request.backoffBaseMs;
      send({ type: 'opened', ...(await openAll(request.clients, request.concurrency)) });
      break;
    case 'progress':
      send({ type: 'progress', progress: progress() });
      break;
    case 'publish':
      startPublishing(request.perPublisherPerSecond);
      send({ type: 'publishing' });
      break;
    case 'stop-publish':
      clearInterval(publishTimer);
      send({ type: 'stopped', sent: clients.reduce((s, c) => s + c.sent, 0), ackedPerRoom, publishErrors });
      break;
    case 'latency':
      send({ type: 'latency', pairs: toPairs(histogram), ackPairs: toPairs(ackHistogram), maxDeliveryMs: maxDeliveryMicros / 1000, maxAckMs: maxAckMicros / 1000 });
      if (request.reset) {
        histogram = createHistogram();
        ackHistogram = createHistogram();
        maxDeliveryMicros = maxAckMicros = 0;
      }
      break;
    case 'positions':
      send({ type: 'positions', highest: Object.fromEntries(highestSeen) });
      break;
    case 'arm':
      for (const [room, seq] of Object.entries(request.targets)) targets.set(room, seq);
      armed = true;
      send({ type: 'armed' });
      break;
    case 'reference':
      send({ type: 'reference', seqs: reference() });
      break;
    case 'check': {
      const checked = clients.filter((c) => c.spec.role !== 'publisher');
      send({ type: 'check', check: checkSequence(checked.map((c) => ({ name: c.spec.user, received: c.seqs, after: c.joinSeq, expected: request.reference[c.spec.rooms[0]!] ?? [] }))) });
      break;
    }
    case 'times':
      send({ type: 'times', times: clients.filter((c) => c.spec.role === 'storm').map((c) => c.times) });
      break;
    case 'close-all':
      closing = true;
      clearInterval(publishTimer);
      for (const c of clients) c.socket?.destroy();
      send({ type: 'closed' });
      setTimeout(() => process.exit(0), 50);
      break;
  }
});

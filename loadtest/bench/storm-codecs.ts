import type { LeanSocket } from './lean-ws.ts';
import { readTimestamp } from './protocols.ts';

/** The systems whose history lets a client resume after losing its node. */
export type StormSystemName = 'parley' | 'centrifugo';
export const STORM_SYSTEMS: StormSystemName[] = ['parley', 'centrifugo'];

/** A position in a room's stream: Parley's `seq`; Centrifugo's `offset` within its `epoch`. */
export interface StreamPosition {
  seq: number;
  epoch?: string;
}

/** What a codec reports to the client that owns the socket. */
export interface StormEvents {
  welcome(): void;
  /** `recovered`: Centrifugo's verdict (`false` also when the reply omits it, as its JSON does for false); undefined for Parley. */
  joined(requestId: number | undefined, position: StreamPosition, recovered: boolean | undefined): void;
  /** A room message with its stream position; `sentAtMicros` is the publisher's timestamp (-1 when unknown). */
  message(seq: number, sentAtMicros: number): void;
  ack(requestId: number | undefined): void;
  error(requestId: number | undefined, code: string): void;
}

/**
 * How the storm's clients speak a system's protocol with history: the handshake, joining a room
 * (resuming from a position after a reconnect) and publishing. Room messages are parsed without
 * JSON.parse (they are most of the traffic); replies are rare and parsed whole.
 */
export interface StormCodec {
  path: string;
  headers(token: string | undefined): Record<string, string>;
  /** Sent once the upgrade is accepted (Centrifugo's `connect`). */
  open(socket: LeanSocket, token: string | undefined): void;
  frame(buf: Buffer, start: number, end: number, socket: LeanSocket, events: StormEvents): void;
  join(room: string, requestId: number, resumeFrom: StreamPosition | undefined): string;
  publish(room: string, payload: string, requestId: number): string;
}

const BRACE = 0x7b;
const QUOTE = 0x22;
const LOWER_S = 0x73;
const NEWLINE = 0x0a;

/** The decimal integer starting at `at` (digits only). */
function readInteger(buf: Buffer, at: number, end: number): number {
  let value = 0;
  for (let i = at; i < end; i++) {
    const c = buf[i]!;
    if (c < 48 || c > 57) break;
    value = value * 10 + (c - 48);
  }
  return value;
}

interface ParleyReply {
  type: string;
  id?: number;
  seq?: number;
  code?: string;
  message?: string;
}

/** Parley: room messages of history tenants start with `{"seq":<n>,` (the stored seq comes first). */
const parley: StormCodec = {
  path: '/v1/ws',
  headers: (token) => ({ 'Sec-WebSocket-Protocol': token ? `parley.v1, parley.token.${token}` : 'parley.v1' }),
  open() {},
  frame(buf, start, end, _socket, events) {
    if (buf[start] === BRACE && buf[start + 1] === QUOTE && buf[start + 2] === LOWER_S) {
      events.message(readInteger(buf, start + 7, end), readTimestamp(buf, start, end));
      return;
    }
    const reply = JSON.parse(buf.toString('utf8', start, end)) as ParleyReply;
    switch (reply.type) {
      case 'welcome':
        return events.welcome();
      case 'joined':
        return events.joined(reply.id, { seq: reply.seq ?? 0 }, undefined);
      case 'ack':
        return events.ack(reply.id);
      case 'error':
        return events.error(reply.id, `${reply.code}: ${reply.message ?? ''}`);
      case 'message':
        // A room message without seq: the tenant has no history, which the storm cannot measure.
        return events.error(undefined, 'message without seq (tenant without history?)');
    }
  },
  join: (room, id, resumeFrom) => JSON.stringify({ type: 'join', id, room, ...(resumeFrom && { since: resumeFrom.seq }) }),
  publish: (room, payload, id) => `{"type":"publish","id":${id},"room":"${room}","data":${payload}}`,
};

interface CentrifugoPublication {
  offset?: number;
  data?: Record<string, unknown>;
}
interface CentrifugoReply {
  id?: number;
  error?: { code: number; message: string };
  connect?: unknown;
  subscribe?: { epoch?: string; offset?: number; recovered?: boolean; publications?: CentrifugoPublication[] };
  publish?: unknown;
}

const OFFSET_KEY = Buffer.from('"offset":');
const PUB_KEY = Buffer.from('"pub":');

/**
 * Centrifugo's JSON protocol (one reply or push per line; `{}` is a ping to answer with `{}`).
 * Recovery: subscribe with `recover`, `offset` and `epoch`; the missed publications come in the
 * subscribe reply, with `recovered: true` when none was missing from history.
 */
const centrifugo: StormCodec = {
  path: '/connection/websocket',
  headers: () => ({}),
  open(socket, token) {
    socket.send(`{"id":1,"connect":{"token":"${token}","name":"storm"}}`);
  },
  frame(buf, start, end, socket, events) {
    let lineStart = start;
    while (lineStart < end) {
      let lineEnd = buf.indexOf(NEWLINE, lineStart);
      if (lineEnd < 0 || lineEnd > end) lineEnd = end;
      if (lineEnd - lineStart === 2 && buf[lineStart] === BRACE) socket.send('{}');
      else if (buf[lineStart + 2] === 0x70 && buf[lineStart + 3] === 0x75) {
        // {"push":…}: a publication has "pub", whose "offset" follows its data.
        const pub = buf.indexOf(PUB_KEY, lineStart);
        if (pub < 0 || pub > lineEnd) events.error(undefined, `push: ${buf.toString('utf8', lineStart, Math.min(lineEnd, lineStart + 120))}`);
        else {
          const at = buf.indexOf(OFFSET_KEY, pub);
          events.message(at < 0 || at > lineEnd ? -1 : readInteger(buf, at + OFFSET_KEY.length, lineEnd), readTimestamp(buf, pub, lineEnd));
        }
      } else handleReply(JSON.parse(buf.toString('utf8', lineStart, lineEnd)) as CentrifugoReply, events);
      lineStart = lineEnd + 1;
    }
  },
  join: (channel, id, resumeFrom) =>
    JSON.stringify({ id, subscribe: { channel, ...(resumeFrom && { recover: true, offset: resumeFrom.seq, epoch: resumeFrom.epoch }) } }),
  publish: (channel, payload, id) => `{"id":${id},"publish":{"channel":"${channel}","data":${payload}}}`,
};

function handleReply(reply: CentrifugoReply, events: StormEvents) {
  if (reply.error) return events.error(reply.id, `${reply.error.code}: ${reply.error.message}`);
  if (reply.connect) return events.welcome();
  if (reply.subscribe) {
    const sub = reply.subscribe;
    events.joined(reply.id, { seq: sub.offset ?? 0, ...(sub.epoch !== undefined && { epoch: sub.epoch }) }, sub.recovered === true);
    for (const p of sub.publications ?? []) {
      const sentAt = p.data?.['~'];
      events.message(p.offset ?? -1, typeof sentAt === 'number' ? sentAt : -1);
    }
    return;
  }
  if (reply.publish) return events.ack(reply.id);
}

export const STORM_CODECS: Record<StormSystemName, StormCodec> = { parley, centrifugo };
